#!/usr/bin/env python3
"""Tests of by_call.py (ctest bench.by_call): a real `perf record` of a program whose
CPU is nearly all in two system calls (dd copying one byte at a time), read back with
`perf script` as harness.sh's by_call_rows does, must come out as those two calls; the
names of libc's and the vDSO's wrappers must come out as their calls; `--report` must
print the medians over rounds.

usage: test_by_call.py   (needs perf, from linux-perf)
"""

import collections
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import by_call  # noqa: E402

HZ = 4000


class WrapperNames(unittest.TestCase):
    def test_libc_and_vdso_wrappers_are_their_calls(self):
        cases = {
            "__GI___libc_write": "write",
            "__libc_write": "write",
            "__GI___recv": "recvfrom",
            "__send": "sendto",
            "__vdso_clock_gettime": "clock_gettime",
            "__fcntl64_nocancel_adjusted": "fcntl",
            "__GI___close_nocancel": "close",
            "accept4@plt": "accept4",
        }
        for frame, call in cases.items():
            self.assertEqual(by_call.wrapper_name(frame), call, frame)

    def test_kernel_frames(self):
        def sample(*syms):
            return [("ffffffff81000000" if i < len(syms) - 1 else "7f0000001000", s)
                    for i, s in enumerate(syms)]

        self.assertEqual(by_call.classify(sample(
            "tcp_sendmsg", "__sys_sendto", "__x64_sys_sendto", "x64_sys_call",
            "do_syscall_64", "entry_SYSCALL_64_after_hwframe", "__GI___send")), "sendto")
        self.assertEqual(by_call.classify(sample(
            "vm_area_alloc", "ksys_mmap_pgoff", "do_syscall_64", "__mmap")), "mmap")
        # In the return path (a deferred fput): the wrapper names the call.
        self.assertEqual(by_call.classify(sample(
            "__fput", "task_work_run", "syscall_exit_to_user_mode", "do_syscall_64",
            "entry_SYSCALL_64_after_hwframe", "__GI___close_nocancel")), "close")
        self.assertEqual(by_call.classify([("ffffffff81000000", "net_rx_action")]),
                         "(kernel outside calls)")
        self.assertEqual(by_call.classify([("55d0c0de0000", "main")]), "(user)")


class RealRecording(unittest.TestCase):
    def test_dd_is_read_and_write(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "perf.data")
            count = 300000
            subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(HZ), "-g",
                            "-o", data, "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=1",
                            f"count={count}"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            script = subprocess.run(["perf", "script", "-i", data, "-F", "pid,ip,sym"],
                                    check=True, capture_output=True, text=True).stdout
        # A sample's header is its pid, right-aligned in five columns (" 9123" when the
        # pids have wrapped below 10,000); its frames start with a tab.
        headers = [line.split()[0] for line in script.splitlines()
                   if line.strip() and line[:1] != "\t" and line.split()[0].isdigit()]
        self.assertTrue(headers, "perf script printed no sample")
        dd_pid = collections.Counter(headers).most_common(1)[0][0]
        samples = headers.count(dd_pid)
        self.assertGreater(samples, 100, "too few samples to judge")
        out = subprocess.run([sys.executable, os.path.join(HERE, "by_call.py"), "--pids",
                              dd_pid, "--hz", str(HZ), "--connections", str(count)],
                             input=script, check=True, capture_output=True,
                             text=True).stdout
        rows = dict(line.rsplit(",", 1) for line in out.splitlines())
        us = {call: float(v) for call, v in rows.items()}
        scale = 1e6 / HZ / count
        self.assertAlmostEqual(us["(all)"], samples * scale, delta=scale)
        self.assertAlmostEqual(sum(v for c, v in us.items() if c != "(all)"), us["(all)"],
                               delta=len(us) * 0.001)
        # dd bs=1 spends its time in read and write; their wrappers' samples count there.
        self.assertGreater(us.get("read", 0) + us.get("write", 0), 0.5 * us["(all)"], out)
        for call in us:
            self.assertFalse(call.startswith(("_", "libc_", "vdso_", "x64_")), out)


class Report(unittest.TestCase):
    def test_medians_over_rounds(self):
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("round,build,load,call,us_per_conn\n")
            for rnd, (a, b) in enumerate([(10, 4), (12, 6), (11, 30)], 1):
                f.write(f"{rnd},a,pt_new,accept4,{a}\n{rnd},b,pt_new,accept4,{b}\n")
                f.write(f"{rnd},a,pt_new,(all),{a + 100}\n{rnd},b,pt_new,(all),{b + 100}\n")
            f.write("1,b,pt_new,getsockopt,3\n")  # missing in the other rounds: 0 there
            path = f.name
        try:
            out = subprocess.run([sys.executable, os.path.join(HERE, "by_call.py"),
                                  "--report", path, "--group", "build"],
                                 check=True, capture_output=True, text=True).stdout
        finally:
            os.unlink(path)
        self.assertIn("| call | a | b | last − first |", out)
        self.assertIn("| accept4 | 11.0 | 6.0 | -5.0 |", out)
        self.assertIn("| (all) | 111.0 | 106.0 | -5.0 |", out)
        self.assertNotIn("getsockopt", out)  # median 0 over three rounds
        self.assertLess(out.index("accept4"), out.index("(all)"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
