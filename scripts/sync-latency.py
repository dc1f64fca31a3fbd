#!/usr/bin/env python3
"""Latency and CPU of one durable 4 KiB append, by method, on the disk of DIR (default: the
current directory): appending with write + fdatasync, overwriting a zero-filled file, O_DSYNC,
and O_DIRECT. What docs/audit.md quotes for the audit trail's append.
   scripts/sync-latency.py [DIR] [APPENDS]"""
import mmap
import os
import sys
import time

directory = sys.argv[1] if len(sys.argv) > 1 else "."
appends = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
block = 4096


def measure(name: str, flags: int, zero_filled: bool, fdatasync: bool) -> None:
    path = os.path.join(directory, ".sync-latency.tmp")
    if os.path.exists(path):
        os.unlink(path)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | flags, 0o644)
    try:
        data = mmap.mmap(-1, block)  # page-aligned, as O_DIRECT needs
        data.write(b"x" * block)
        if zero_filled:
            zeros = mmap.mmap(-1, 1 << 20)
            for _ in range(appends * block // (1 << 20) + 1):
                os.write(fd, zeros)
            os.fsync(fd)
        started, cpu = time.perf_counter(), os.times()
        for i in range(appends):
            os.pwrite(fd, data, i * block)
            if fdatasync:
                os.fdatasync(fd)
        wall = (time.perf_counter() - started) / appends
        after = os.times()
        used = (after.user + after.system - cpu.user - cpu.system) / appends
        print(f"{name:36s} {wall * 1e6:7.1f} µs  CPU {used * 1e6:5.1f} µs")
    finally:
        os.close(fd)
        os.unlink(path)


measure("append + fdatasync", 0, False, True)
measure("zero-filled + fdatasync", 0, True, True)
measure("zero-filled, O_DSYNC", os.O_DSYNC, True, False)
measure("zero-filled, O_DIRECT | O_DSYNC", os.O_DSYNC | os.O_DIRECT, True, False)
