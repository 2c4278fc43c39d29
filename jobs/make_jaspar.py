#!/usr/bin/env python3
"""Write JASPAR CORE vertebrates (non-redundant: the latest version of each
matrix) as a MEME minimal-format file, from the JASPAR SQLite database that the
`pyjaspar` package ships (pip install pyjaspar; 4.0.0 ships JASPAR 2014-2026).

    python3 jobs/make_jaspar.py [--release JASPAR2024] [--out data/JASPAR2024_CORE_vertebrates_non-redundant.meme]

The two bundled files were made with pyjaspar 4.0.0 (each is the same file on
a rerun): the default, JASPAR2024 (879 motifs), and `--release JASPAR2018`
(579 motifs), the release of the DeepResolve paper's Table 1 and of the IDs in
the authors' tf_motifs.tsv.

JASPAR is distributed under CC BY 4.0; the attribution goes into the file
header (MEME readers skip lines before the first MOTIF that they do not know).
"""
import argparse

from pyjaspar import jaspardb
import pyjaspar

CITATION = {
    "JASPAR2018": "Khan A, et al. JASPAR 2018: update of the open-access database of transcription "
    "factor binding profiles and its web framework. Nucleic Acids Res. 2018;46(D1):D260-D266.",
    "JASPAR2024": "Rauluseviciute I, et al. JASPAR 2024: 20th anniversary of the open-access "
    "database of transcription factor binding profiles. Nucleic Acids Res. 2024;52(D1):D174-D182.",
    "JASPAR2026": "JASPAR 2026 (jaspar.elixir.no).",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--release", default="JASPAR2024")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = a.out or f"data/{a.release}_CORE_vertebrates_non-redundant.meme"
    db = jaspardb(release=a.release)
    motifs = db.fetch_motifs(collection="CORE", tax_group=["vertebrates"], all_versions=False)
    motifs = sorted(motifs, key=lambda m: m.matrix_id)
    lines = [
        "MEME version 4",
        "",
        f"# {a.release} CORE vertebrates, non-redundant (latest version of each matrix): {len(motifs)} motifs.",
        f"# Source: JASPAR (https://jaspar.elixir.no), via the pyjaspar {getattr(pyjaspar, '__version__', '')} "
        "PyPI package; written by jobs/make_jaspar.py.",
        "# Licence: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).",
        f"# Cite: {CITATION.get(a.release, a.release)}",
        "# Probabilities are the JASPAR counts of each column divided by their sum.",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        "A 0.25 C 0.25 G 0.25 T 0.25",
        "",
    ]
    for m in motifs:
        c = m.counts
        cols = list(zip(c["A"], c["C"], c["G"], c["T"]))
        nsites = int(round(sum(cols[0])))
        lines.append(f"MOTIF {m.matrix_id} {m.name.replace(' ', '_')}")
        lines.append(f"letter-probability matrix: alength= 4 w= {len(cols)} nsites= {nsites} E= 0")
        for col in cols:
            s = sum(col)
            lines.append(" " + " ".join(f"{v / s:.6f}" for v in col))
        lines.append(f"URL https://jaspar.elixir.no/matrix/{m.matrix_id}")
        lines.append("")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(motifs)} motifs of {a.release} to {out}")


if __name__ == "__main__":
    main()
