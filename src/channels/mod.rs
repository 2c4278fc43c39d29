//! `channels` (stub while it is written).
use crate::Result;
use mpi::topology::SimpleCommunicator;
pub struct ChannelsOptions;
pub fn channels(_w: &SimpleCommunicator, _o: &ChannelsOptions) -> Result<()> {
    Ok(())
}
