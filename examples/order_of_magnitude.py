"""Where does the BSFF paper's 10-100x (against real-valued FF) appear? CwC-FF / BSFF and
CwC-FF / BGBSFF training energy per sample on cfse-mnist, flat pricing and two hierarchies,
over batch, tile count M and activation density.

    python examples/order_of_magnitude.py            (about a minute: the mapping searches)
"""

import itertools

from pbitsim.estimator import estimate
from pbitsim.hardware.library import load_hardware

HARDWARE = ("pbit-accel", "eyeriss")


def main():
    print("| batch | M | density | flat BSFF | flat BGBSFF | "
          + " | ".join(f"{h} BSFF | {h} BGBSFF" for h in HARDWARE) + " |")
    print("|---" * (5 + 2 * len(HARDWARE)) + "|")
    hws = [load_hardware(h) for h in HARDWARE]
    for b, m, d in itertools.product((8, 128), (1, 7), (0.05, 0.15)):
        cells = []
        for i, hw in enumerate(hws):
            e = estimate(arch="cfse-mnist", algos=["cwc", "bsff", "bgbsff"], tiles=m,
                         density=d, batch_size=b, hardware=hw, device="smtj")
            c = {a.name: a for a in e.algos}
            if i == 0:
                cells += [c["cwc"].total_pj() / c[r].total_pj() for r in ("bsff", "bgbsff")]
            cells += [c["cwc"].hardware.total_pj() / c[r].hardware.total_pj()
                      for r in ("bsff", "bgbsff")]
        print(f"| {b} | {m} | {d} | " + " | ".join(f"{x:.2f}x" for x in cells) + " |",
              flush=True)


if __name__ == "__main__":
    main()
