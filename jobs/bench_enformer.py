"""An Enformer-shaped model after H, for `bench --model`, and its PyTorch peer.

Builds enformer-pytorch's Enformer at a configuration given on the command
line (random seeded weights; positional features exported as a constant, see
tests/fixtures/attention/make_onnx.py), writes it as ONNX (input (N, 4, L)),
and times PyTorch doing the same batched ascent on one thread: H (the conv
tower's output) requires grad, S_c = the head's pre-softplus track c summed
over positions, one backward and an update per step.

    /work/venv-torch/bin/python jobs/bench_enformer.py /tmp/enf.onnx --dim 96 --depth 2 --heads 4 --length 1024
    OPENBLAS_NUM_THREADS=1 deepresolve-mpi bench --model /tmp/enf.onnx --layer H_TENSOR --reduce sum --batch 1,8,32 --conv direct
"""
import argparse
import time
import warnings

import torch
from torch import nn

warnings.filterwarnings("ignore")


def enformer(dim, depth, heads, downsamples):
    import enformer_pytorch.modeling_enformer as me
    from enformer_pytorch import Enformer

    orig, cache = me.get_positional_embed, {}

    def const_embed(seq_len, feature_size, device, use_tf_gamma=False, dtype=torch.float):
        key = (int(seq_len), feature_size)
        if key not in cache:
            with torch.no_grad():
                cache[key] = orig(int(seq_len), feature_size, device, use_tf_gamma, dtype).clone()
        return cache[key]

    me.get_positional_embed = const_embed
    return Enformer.from_hparams(
        dim=dim, depth=depth, heads=heads, output_heads=dict(human=4), target_length=-1,
        num_downsamples=downsamples, dim_divisible_by=8, attn_dim_key=dim // heads // 2,
        use_tf_gamma=False,
    ).eval()


class ChannelsFirst(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x.transpose(1, 2), head="human")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--dim", type=int, default=96)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--downsamples", type=int, default=3)
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--batch", default="1,8,32")
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = enformer(a.dim, a.depth, a.heads, a.downsamples)
    torch.onnx.export(
        ChannelsFirst(m).eval(), torch.zeros(1, 4, a.length), a.out, input_names=["input"],
        output_names=["out"], dynamic_axes={"input": {0: "N"}}, opset_version=17, dynamo=False,
    )
    t = m._trunk
    x = torch.zeros(1, a.length, 4)
    with torch.no_grad():
        h0 = t[2](t[1](t[0](x)))
    print(f"H {tuple(h0.shape[1:])} (channels, positions)")
    for b in [int(v) for v in a.batch.split(",")]:
        h = torch.randn(b, *h0.shape[1:]).requires_grad_(True)

        def step():
            s = m._heads["human"][0](t[6](t[5](t[4](t[3](h))))).sum(1)[:, 0].sum()
            (g,) = torch.autograd.grad(s, h)
            with torch.no_grad():
                h.add_(0.1 * g)

        step()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        dt = time.perf_counter() - t0
        print(f"torch batch={b} item_steps_per_s={b * a.steps / dt:.2f}")


if __name__ == "__main__":
    main()
