#!/usr/bin/env python3
"""Read + decode of a full whiteboard: 2000 host slots filled, the global slot set.

Prints the median and p90 of repeated runs (O_DIRECT read of the whole 8 MiB area, then decode).
Target (issue 2): median <= 50 ms.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.storage import whiteboard as wb
from vdsm_hosted_engine.storage.whiteboard_file import WhiteboardFile, create_metadata_file

STATUS = {"vm": "up", "health": "good", "detail": "Up", "reason": ""}


def build(path: str) -> None:
    create_metadata_file(path)
    with open(path, "r+b") as f:
        f.write(wb.encode_global_slot(wb.GlobalSlot(maintenance=False, extra={"migration": "none"})))
        for host_id in range(1, constants.MAX_HOST_ID + 1):
            slot = wb.HostSlot(
                host_id,
                100000 + host_id,
                3400 - host_id % 7,
                STATUS,
                f"host{host_id}.example.com",
                local_conf_timestamp=99000,
                state="EngineDown",
                extra={"priority": str(host_id % 3)},
            )
            f.seek(host_id * constants.SLOT_SIZE)
            f.write(wb.encode_host_slot(slot, wall_time=time.time()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--dir", default="/var/tmp", help="an O_DIRECT-capable directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        path = os.path.join(d, "hosted-engine.metadata")
        build(path)
        board_file = WhiteboardFile(path)
        reads, decodes, totals = [], [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            data = board_file.read_bytes()
            t1 = time.perf_counter()
            board = wb.decode_whiteboard(data)
            t2 = time.perf_counter()
            assert len(board.hosts) == constants.MAX_HOST_ID and not board.invalid
            reads.append(t1 - t0)
            decodes.append(t2 - t1)
            totals.append(t2 - t0)

    def ms(values, q=None):
        if q is None:
            return f"{statistics.median(values) * 1000:7.2f}"
        return f"{statistics.quantiles(values, n=10)[q - 1] * 1000:7.2f}"

    print(f"whiteboard: {constants.MAX_HOST_ID} slots filled, {constants.METADATA_SIZE} bytes, {args.runs} runs")
    print(f"{'':10}{'median ms':>10}{'p90 ms':>10}")
    print(f"{'read':10}{ms(reads):>10}{ms(reads, 9):>10}")
    print(f"{'decode':10}{ms(decodes):>10}{ms(decodes, 9):>10}")
    print(f"{'total':10}{ms(totals):>10}{ms(totals, 9):>10}   (target: median <= 50 ms)")


if __name__ == "__main__":
    main()
