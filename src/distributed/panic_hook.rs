//! A panic on one rank must end the whole job: without this, the other ranks
//! wait for it in a collective call until the queue kills the allocation.
use mpi::traits::*;

/// This process's rank: MPI's if it is running, else what the launcher says
/// (mpirun, srun), else 0.
pub fn launcher_rank() -> i32 {
    [
        "OMPI_COMM_WORLD_RANK",
        "PMIX_RANK",
        "PMI_RANK",
        "SLURM_PROCID",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.parse().ok())
    .unwrap_or(0)
}

/// A rank panicked: sent to every other rank before `MPI_Abort`, whose
/// SIGTERM they would otherwise report as a stop to `--resume` from.
const TAG_PANIC: i32 = 77;

/// Tell every other rank, and give the (eager, few-byte) messages a moment
/// to land before the abort's SIGTERM does.
fn tell_others(world: &mpi::topology::SimpleCommunicator) {
    let me = world.rank();
    for r in (0..world.size()).filter(|&r| r != me) {
        world.process_at_rank(r).send_with_tag(&me, TAG_PANIC);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// Whether another rank has panicked (and is aborting the job): a stop
/// signal now is the abort's, and this rank should end without a word.
pub fn another_rank_panicked(world: &mpi::topology::SimpleCommunicator) -> bool {
    world
        .any_process()
        .immediate_probe_with_tag(TAG_PANIC)
        .is_some()
}

/// End this rank quietly while the panicking one aborts the job (the panic
/// line stays the job's last word); exit 1 should the abort not come.
pub fn wait_for_abort() -> ! {
    std::thread::sleep(std::time::Duration::from_secs(5));
    std::process::exit(1)
}

fn mpi_running() -> bool {
    mpi::environment::is_initialized() && !mpi::environment::is_finalized()
}

/// Replace the default panic report with one line naming the rank and the
/// panic, then end the job: `MPI_Abort` when MPI runs (every rank ends within
/// seconds), else exit 101 as Rust's default does.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let running = mpi_running();
        let rank = if running {
            mpi::topology::SimpleCommunicator::world().rank()
        } else {
            launcher_rank()
        };
        // One line: newlines inside the message would split it.
        let msg = msg.replace('\n', " ");
        crate::say!(
            "deepresolve-mpi: internal error (rank {rank}): panicked: {msg}{at}; this is a bug, please report it"
        );
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            crate::say!("{}", std::backtrace::Backtrace::force_capture());
        }
        use std::io::Write;
        let _ = std::io::stderr().flush();
        if running && mpi::topology::SimpleCommunicator::world().size() > 1 {
            let world = mpi::topology::SimpleCommunicator::world();
            tell_others(&world);
            world.abort(101)
        }
        std::process::exit(101)
    }));
}
