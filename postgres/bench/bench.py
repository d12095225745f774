#!/usr/bin/python3
"""PT-BM PostgreSQL against stock PostgreSQL, side by side.

Run by `scripts/postgres.sh bench [--quick]` after both servers are built.
Each workload runs on both servers with the same settings and data, in
alternated rounds (stock, PT-BM, PT-BM, stock, ...), and reports the median
and the spread (min..max) of each server's figure, and the ratio PT-BM over
stock (> 1 is better for PT-BM, for times too: stock time / PT-BM time).

  W1 pgbench -S -M prepared, data fitting shared_buffers, prewarmed, 1 and 2 clients
  W2 a lookup-heavy read: 200 index probes per statement (ScalarArrayOp)
  W3 pgbench -S -M prepared, data about 4.6x shared_buffers, in the OS page cache,
     1 and 2 clients
  W4 pgbench tpcb-like, synchronous_commit off, a CHECKPOINT inside each round
  W5 CREATE TABLE / INSERT / DROP TABLE and INSERT / TRUNCATE loops, ms per
     DROP and per TRUNCATE, at shared_buffers 128MB, 1GB, 4GB, 8GB
  W6 pgbench -S -C: a new connection (a new backend) per transaction
  R  PT-BM only: shared_buffers 1GB -> 256MB -> 2GB by ALTER SYSTEM and a
     reload under pgbench -S; the slot space's memory sampled over time

Writes build/postgres/bench.json, build/postgres/bench.md and PNG charts in
build/postgres/bench-*.png. Servers run as the 'postgres' user on Unix
sockets in a temporary directory; data directories are on the same disk.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "build", "postgres")
KINDS = ("stock", "ptbm")
TTY = sys.stderr.isatty()


def progress(msg):
    if TTY:
        sys.stderr.write("\r\033[K" + msg)
        sys.stderr.flush()
    else:
        sys.stderr.write(msg + "\n")


def run(cmd, check=True, env=None, capture=True):
    r = subprocess.run(cmd, env=env, text=True,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stdout or ""))
    return r.stdout or ""


class Server:
    """A throw-away cluster of one of the two builds."""

    def __init__(self, kind, tmp, extra=None):
        self.kind = kind
        self.extra = extra or {}  # settings for this server alone (--ptbm-set)
        self.bin = os.path.join(OUT, kind, "bin")
        self.data = os.path.join(tmp, kind)
        self.sock = os.path.join(tmp, kind + ".sock")
        self.log = os.path.join(tmp, kind + ".log")
        os.makedirs(self.sock, exist_ok=True)
        shutil.chown(self.sock, "postgres")
        run(["runuser", "-u", "postgres", "--", self.bin + "/initdb", "-D", self.data,
             "-U", "postgres", "-A", "trust"])
        self.settings = {}

    def start(self, settings):
        self.settings = settings
        opts = ["-c listen_addresses=''", "-k " + self.sock]
        opts += ["-c %s=%s" % (k, v) for k, v in dict(settings, **self.extra).items()]
        run(["runuser", "-u", "postgres", "--", self.bin + "/pg_ctl", "-D", self.data,
             "-l", self.log, "-w", "-t", "120", "-o", " ".join(opts), "start"])

    def stop(self):
        run(["runuser", "-u", "postgres", "--", self.bin + "/pg_ctl", "-D", self.data,
             "-m", "fast", "-w", "stop"], check=False)

    def restart(self, settings):
        self.stop()
        self.start(settings)

    def psql(self, sql, env=None):
        return run([self.bin + "/psql", "-h", self.sock, "-U", "postgres", "-X", "-q", "-A",
                    "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, "postgres"], env=env).strip()

    def pgbench(self, args, env=None):
        return run([self.bin + "/pgbench", "-h", self.sock, "-U", "postgres"] + args + ["postgres"],
                   env=env)

    def pids(self):
        """The server's processes: the postmaster and its children."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            pm = int(f.readline())
        out = run(["ps", "-o", "pid=", "--ppid", str(pm)], check=False)
        return [pm] + [int(p) for p in out.split()]

    def cpu_faults(self):
        """Minor faults, user and system CPU seconds of the server's processes
        (those alive now; children that exited are counted by the postmaster's
        cminflt/cutime/cstime)."""
        flt = ut = st = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for p in self.pids():
            try:
                with open("/proc/%d/stat" % p) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # fields[0] is state (field 3): minflt 10, cminflt 11, utime 14,
            # stime 15, cutime 16, cstime 17
            flt += int(fields[7]) + int(fields[8])
            ut += (int(fields[11]) + int(fields[13])) / tick
            st += (int(fields[12]) + int(fields[14])) / tick
        return flt, ut, st


def tps_of(out):
    for line in out.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise RuntimeError("no tps in pgbench output:\n" + out)


def stmt_latency_ms(out, needle):
    """pgbench -r: the average latency of the statement containing needle."""
    for line in out.splitlines():
        if needle in line.lower():
            return float(line.split()[0])
    raise RuntimeError("no latency for %r in:\n%s" % (needle, out))


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.rounds = 1 if self.quick else args.rounds
        self.seconds = 3 if self.quick else args.seconds
        self.tmp = tempfile.mkdtemp(prefix="ptbm-pgbench.", dir=args.tmpdir)
        shutil.chown(self.tmp, "postgres")
        extra = dict(kv.split("=", 1) for kv in args.ptbm_set)
        self.servers = {k: Server(k, self.tmp, extra if k == "ptbm" else None) for k in KINDS}
        self.results = []
        self.notes = {}

    def close(self):
        for s in self.servers.values():
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def order(self, r):
        return KINDS if r % 2 == 0 else KINDS[::-1]

    def both(self, fn):
        for s in self.servers.values():
            fn(s)

    def record(self, wid, clients, unit, per_kind, higher_better, extra=None):
        med = {k: statistics.median(v) for k, v in per_kind.items()}
        if higher_better:
            ratio = med["ptbm"] / med["stock"] if med["stock"] else None
        else:
            ratio = med["stock"] / med["ptbm"] if med["ptbm"] else None
        row = {"workload": wid, "clients": clients, "stock": round(med["stock"], 4),
               "ptbm": round(med["ptbm"], 4), "unit": unit,
               "ratio": round(ratio, 3) if ratio else None, "rounds": len(per_kind["ptbm"]),
               "stock_range": [min(per_kind["stock"]), max(per_kind["stock"])],
               "ptbm_range": [min(per_kind["ptbm"]), max(per_kind["ptbm"])]}
        if extra:
            row.update(extra)
        self.results.append(row)
        progress("%s clients=%s: stock %.4g, ptbm %.4g %s, ratio %s" %
                 (wid, clients, med["stock"], med["ptbm"], unit, row["ratio"]))
        if not TTY:
            pass
        else:
            sys.stderr.write("\n")

    # -- helpers ------------------------------------------------------------
    def load_pgbench(self, scale, settings):
        def f(s):
            s.restart(settings)
            s.pgbench(["-i", "-q", "-s", str(scale)])
            s.psql("create extension if not exists pg_prewarm")
            s.psql("vacuum analyze")
        self.both(f)

    def prewarm(self, s):
        s.psql("select sum(pg_prewarm(c.oid)) from pg_class c where c.relname like 'pgbench_%'")

    def profile(self, wid, clients, s):
        """perf record of the whole machine while a round runs: the top
        symbols, to say where the time goes (kernel and PostgreSQL)."""
        if not self.args.profile or wid not in self.args.profile.split(",") or \
                not shutil.which("perf"):
            return None
        data = os.path.join(self.tmp, "perf-%s-%s.data" % (wid, s.kind))
        secs = max(2, self.seconds // 2)
        proc = subprocess.Popen(["perf", "record", "-a", "-e", "cpu-clock", "-o", data, "--",
                                 "sleep", str(secs)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def done():
            proc.wait()
            out = run(["perf", "report", "-i", data, "--stdio", "--no-children", "--comms", "postgres", "--sort", "sym",
                       "--percent-limit", "1.5"], check=False)
            top = [l.strip() for l in out.splitlines() if l.strip() and not l.startswith("#")]
            key = "%s, %d client%s" % (wid, clients, "" if clients == 1 else "s")
            self.notes.setdefault("profiles", {}).setdefault(key, {})[s.kind] = top[:15]
        return done

    def pgbench_rounds(self, wid, clients, args, extra_per_round=None, warm=None):
        """Alternated rounds of one pgbench command; tps per server, and the
        server's minor faults and CPU per transaction."""
        tps = {k: [] for k in KINDS}
        flt = {k: [] for k in KINDS}
        sysf = {k: [] for k in KINDS}
        for r in range(self.rounds):
            for k in self.order(r):
                s = self.servers[k]
                if warm:
                    warm(s)
                progress("%s clients=%d round %d/%d: %s" % (wid, clients, r + 1, self.rounds, k))
                f0, u0, s0 = s.cpu_faults()
                stop_extra = extra_per_round(s) if extra_per_round else None
                prof = self.profile(wid, clients, s) if r == self.rounds - 1 else None
                out = s.pgbench(args + ["-c", str(clients), "-j", str(clients),
                                        "-T", str(self.seconds)])
                if stop_extra:
                    stop_extra()
                if prof:
                    prof()
                f1, u1, s1 = s.cpu_faults()
                t = tps_of(out)
                n = max(t * self.seconds, 1)
                tps[k].append(t)
                flt[k].append((f1 - f0) / n)
                cpu = (u1 - u0) + (s1 - s0)
                sysf[k].append((s1 - s0) / cpu if cpu > 0 else 0.0)
        extra = {"faults_per_tx": {k: round(statistics.median(flt[k]), 2) for k in KINDS},
                 "sys_share": {k: round(statistics.median(sysf[k]), 3) for k in KINDS}}
        self.record(wid, clients, "tps", tps, True, extra)

    # -- workloads ----------------------------------------------------------
    def w1_w2_w6(self):
        settings = {"shared_buffers": "1GB", "max_parallel_workers_per_gather": "0"}
        self.load_pgbench(10, settings)
        self.both(self.prewarm)
        for c in (1, 2):
            self.pgbench_rounds("W1", c, ["-n", "-S", "-M", "prepared"])
        script = os.path.join(self.tmp, "w2.sql")
        with open(script, "w") as f:
            f.write("\\set r random(1, 1000000)\n"
                    "select sum(abalance) from pgbench_accounts where aid = any (array("
                    "select (:r + g * 4999) % 1000000 + 1 from generate_series(1, 200) g));\n")
        os.chmod(script, 0o644)
        for c in (1, 2):
            self.pgbench_rounds("W2", c, ["-n", "-f", script, "-M", "prepared"])
        self.pgbench_rounds("W6", 2, ["-n", "-S", "-C"])

    def w3(self):
        settings = {"shared_buffers": "128MB", "max_parallel_workers_per_gather": "0"}
        self.load_pgbench(40, settings)

        def warm(s):  # read everything once: into the OS page cache
            s.psql("select count(*) from pgbench_accounts")
        self.both(warm)
        for c in (1, 2):  # one client: no other backend maps the pages it evicts
            self.pgbench_rounds("W3", c, ["-n", "-S", "-M", "prepared"])

    def w4(self):
        settings = {"shared_buffers": "1GB", "synchronous_commit": "off",
                    "max_wal_size": "4GB", "checkpoint_timeout": "30min"}
        self.load_pgbench(10, settings)

        def checkpoint_midway(s):
            t = threading.Timer(self.seconds / 2.0, lambda: s.psql("checkpoint"))
            t.start()
            return t.join
        self.pgbench_rounds("W4", 2, ["-n", "-M", "prepared"], extra_per_round=checkpoint_midway)

    def w5(self):
        sizes = ["128MB", "1GB"] if self.quick else ["128MB", "1GB", "4GB", "8GB"]
        n = 50 if self.quick else 300
        drop = os.path.join(self.tmp, "w5drop.sql")
        trunc = os.path.join(self.tmp, "w5trunc.sql")
        with open(drop, "w") as f:
            f.write("create table w5_:client_id (a int);\n"
                    "insert into w5_:client_id values (1);\n"
                    "drop table w5_:client_id;\n")
        with open(trunc, "w") as f:
            f.write("insert into w5t values (1);\n"
                    "truncate w5t;\n")
        os.chmod(drop, 0o644)
        os.chmod(trunc, 0o644)
        for size in sizes:
            def f(s):
                s.restart({"shared_buffers": size})
                s.psql("drop table if exists w5t; create table w5t (a int)")
            self.both(f)
            for label, script, needle in (("DROP", drop, "drop table"),
                                          ("TRUNCATE", trunc, "truncate")):
                ms = {k: [] for k in KINDS}
                for r in range(self.rounds):
                    for k in self.order(r):
                        progress("W5 %s shared_buffers=%s round %d/%d: %s" %
                                 (label, size, r + 1, self.rounds, k))
                        out = self.servers[k].pgbench(["-n", "-r", "-f", script, "-t", str(n)])
                        ms[k].append(stmt_latency_ms(out, needle))
                self.record("W5", 1, "ms per " + label, ms, False,
                            {"statement": label, "shared_buffers": size})

    def resize(self):
        """PT-BM's memory over time while shared_buffers changes under load."""
        s = self.servers["ptbm"]
        settings = {"max_shared_buffers": "2GB", "max_parallel_workers_per_gather": "0"}
        s.restart(settings)
        # shared_buffers in the config file, where a reload can change it
        s.psql("alter system set shared_buffers = '1GB'")
        s.restart(settings)
        if s.psql("select count(*) from pg_class where relname = 'pgbench_accounts'") == "0" or \
                int(s.psql("select count(*) from pgbench_branches")) != 40:
            s.pgbench(["-i", "-q", "-s", "40"])
        s.psql("create extension if not exists pg_prewarm")
        s.psql("select pg_prewarm('pgbench_accounts')")
        fd = None
        for f in os.listdir("/proc/%d/fd" % s.pids()[0]):
            path = "/proc/%d/fd/%s" % (s.pids()[0], f)
            if os.readlink(path) == "/memfd:postgres buffer slots (deleted)":
                fd = path
        phase = 4 if self.quick else 10
        steps = [(0, "1GB"), (phase, "256MB"), (2 * phase, "2GB")]
        samples = []
        bench = subprocess.Popen([s.bin + "/pgbench", "-h", s.sock, "-U", "postgres", "-n", "-S",
                                  "-M", "prepared", "-c", "2", "-j", "2", "-T", str(3 * phase),
                                  "postgres"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        shrink_at = shrunk_at = None
        while bench.poll() is None:
            t = time.time() - t0
            while len(steps) > 1 and t >= steps[1][0]:
                steps.pop(0)
                s.psql("alter system set shared_buffers = '%s'" % steps[0][1])
                s.psql("select pg_reload_conf()")
                if steps[0][1] == "256MB":
                    shrink_at = time.time() - t0
            mib = os.stat(fd).st_blocks * 512 / 1048576.0
            budget = {"1GB": 1024, "256MB": 256, "2GB": 2048}[steps[0][1]]
            samples.append((round(t, 2), round(mib, 1), budget))
            if shrink_at is not None and shrunk_at is None and mib <= 256.5:
                shrunk_at = time.time() - t0
            progress("R: %.0f s, %.0f MiB resident, budget %d MiB" % (t, mib, budget))
            time.sleep(0.1)
        s.psql("alter system reset shared_buffers")
        self.resize_samples = samples
        peak_after_grow = max([m for t, m, b in samples if b == 2048] or [0])
        self.notes["resize"] = {
            "shrink_seconds": round(shrunk_at - shrink_at, 2) if shrunk_at else None,
            "resident_mib_before_shrink": max([m for t, m, b in samples if b == 1024] or [0]),
            "resident_mib_after_shrink_max": max([m for t, m, b in samples
                                                  if b == 256 and shrunk_at and t >= shrunk_at] or [0]),
            "resident_mib_after_grow_max": peak_after_grow}
        progress("R: shrink to 256MB took %s s" % self.notes["resize"]["shrink_seconds"])
        sys.stderr.write("\n")

    # -- report ---------------------------------------------------------------
    def host(self):
        info = {"load_start": self.load0}
        info["load_end"] = os.getloadavg()
        info["kernel"] = os.uname().release
        probe = os.path.join(ROOT, "build", "tools", "ptbm")
        if os.path.exists(probe):
            try:
                out = run([probe, "probe", "--only", "costs", "--json"], check=False)
                j = json.loads(out[out.index("{"):])
                if j.get("host_paging"):
                    info["host_paging"] = j["host_paging"]
                for e in j.get("experiments", [j]):
                    ev = e.get("evidence", {})
                    for key in ("host_paging", "first_write_touch_shared_ns"):
                        if key in ev and key not in info:
                            info[key] = ev[key]
            except (ValueError, KeyError, RuntimeError):
                pass
        return info

    def goals(self):
        """Each workload's goal, and whether this run met it."""
        out = []

        def rows(w, **kw):
            return [r for r in self.results if r["workload"] == w and
                    all(r.get(k) == v for k, v in kw.items())]
        for w, want, what in (("W1", 1.00, "ratio >= 1.00"), ("W2", 1.15, "ratio >= 1.15"),
                              ("W3", 0.90, "ratio >= 0.90"), ("W4", 0.97, "ratio >= 0.97"),
                              ("W6", 0.90, "ratio >= 0.90")):
            rs = rows(w)
            if rs:
                worst = min(r["ratio"] for r in rs)
                out.append({"workload": w, "goal": what, "value": worst, "met": worst >= want})
        drops = rows("W5", statement="DROP")
        by = {r["shared_buffers"]: r for r in drops}
        if "128MB" in by and "8GB" in by:
            growth = by["8GB"]["ptbm"] / by["128MB"]["ptbm"]
            out.append({"workload": "W5", "goal": "PT-BM DROP at 8GB within 1.2x of 128MB",
                        "value": round(growth, 3), "met": growth <= 1.2})
        if "4GB" in by:
            out.append({"workload": "W5", "goal": "DROP ratio >= 3 at 4GB",
                        "value": by["4GB"]["ratio"], "met": by["4GB"]["ratio"] >= 3})
        return out

    def write(self):
        host = self.host()
        goals = self.goals()
        with open(os.path.join(OUT, "bench.json"), "w") as f:
            json.dump({"host": host, "quick": self.quick, "seconds": self.seconds,
                       "ptbm_set": self.args.ptbm_set,
                       "results": self.results, "goals": goals, "notes": self.notes,
                       "resize_samples": getattr(self, "resize_samples", [])}, f, indent=1)
        lines = ["# PT-BM PostgreSQL against stock PostgreSQL", "",
                 "`scripts/postgres.sh bench%s`, %d round(s) per server and workload, %d s each, "
                 "alternated. Kernel %s; host paging: %s; load average %.2f at the start, %.2f at "
                 "the end." % (" --quick" if self.quick else "", self.rounds, self.seconds,
                               host["kernel"], host.get("host_paging", "not measured"),
                               host["load_start"][0], host["load_end"][0])
                 + ("" if not self.args.ptbm_set else " PT-BM server also set: %s." %
                    ", ".join("`%s`" % kv for kv in self.args.ptbm_set)), "",
                 "| workload | clients | stock | PT-BM | unit | ratio | stock range | PT-BM range | "
                 "faults/tx stock, PT-BM | kernel share of server CPU stock, PT-BM |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.results:
            name = r["workload"]
            if r["workload"] == "W5":
                name = "W5 %s, shared_buffers %s" % (r["statement"], r["shared_buffers"])
            fl = r.get("faults_per_tx")
            sh = r.get("sys_share")
            lines.append("| %s | %s | %.4g | %.4g | %s | %s | %.4g..%.4g | %.4g..%.4g | %s | %s |" % (
                name, r["clients"], r["stock"], r["ptbm"], r["unit"], r["ratio"],
                r["stock_range"][0], r["stock_range"][1], r["ptbm_range"][0], r["ptbm_range"][1],
                "%s, %s" % (fl["stock"], fl["ptbm"]) if fl else "",
                "%s, %s" % (sh["stock"], sh["ptbm"]) if sh else ""))
        lines += ["", "## Goals", "", "| workload | goal | this run | met |", "|---|---|---|---|"]
        for g in goals:
            lines.append("| %s | %s | %s | %s |" % (g["workload"], g["goal"], g["value"],
                                                  "yes" if g["met"] else "**no**"))
        if "resize" in self.notes:
            r = self.notes["resize"]
            lines += ["", "## shared_buffers without a restart (PT-BM)", "",
                      "Under pgbench -S (scale 40, 2 clients): 1GB, then 256MB, then 2GB, each by "
                      "ALTER SYSTEM and pg_reload_conf(). Resident before the shrink %s MiB; the "
                      "shrink to 256MB completed in %s s; resident after it at most %s MiB; after "
                      "growing to 2GB up to %s MiB (bench-resize.png)." % (
                          r["resident_mib_before_shrink"], r["shrink_seconds"],
                          r["resident_mib_after_shrink_max"], r["resident_mib_after_grow_max"])]
        for wid, by in sorted(self.notes.get("profiles", {}).items()):
            lines += ["", "## Where the servers spend their time in %s (perf record -a, cpu-clock, processes named postgres, symbols "
                      "above 1.5%%)" % wid, ""]
            for kind in KINDS:
                if kind in by:
                    lines += ["%s:" % kind, "", "```"] + by[kind] + ["```", ""]
        lines += ["", "Charts: bench-ratios.png, bench-w5.png, bench-resize.png."]
        with open(os.path.join(OUT, "bench.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        self.charts()

    def charts(self):
        if not shutil.which("gnuplot"):
            return
        dat = os.path.join(self.tmp, "ratios.dat")
        with open(dat, "w") as f:
            for r in self.results:
                label = r["workload"] + ("-%s-%s" % (r["statement"], r["shared_buffers"])
                                         if r["workload"] == "W5" else "-c%d" % r["clients"])
                f.write('"%s" %s\n' % (label, r["ratio"]))
        w5 = os.path.join(self.tmp, "w5.dat")
        with open(w5, "w") as f:
            for r in self.results:
                if r["workload"] == "W5" and r["statement"] == "DROP":
                    f.write('"%s" %s %s\n' % (r["shared_buffers"], r["stock"], r["ptbm"]))
        gp = """set terminal png size 1000,480 noenhanced
set output '%s'
set style data histograms
set style fill solid 0.8
set ylabel 'PT-BM / stock (> 1: PT-BM better)'
set xtics rotate by -35
set yrange [0:*]
set key off
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2
plot '%s' using 2:xtic(1)
set output '%s'
set style data linespoints
unset arrow
set key top left
set xtics norotate
set ylabel 'ms per DROP TABLE'
set xlabel 'shared_buffers'
plot '%s' using 2:xtic(1) title 'stock', '' using 3 title 'PT-BM'
""" % (os.path.join(OUT, "bench-ratios.png"), dat, os.path.join(OUT, "bench-w5.png"), w5)
        samples = getattr(self, "resize_samples", [])
        if samples:
            rz = os.path.join(self.tmp, "resize.dat")
            with open(rz, "w") as f:
                for t, m, b in samples:
                    f.write("%s %s %s\n" % (t, m, b))
            gp += """set output '%s'
set style data lines
set xtics auto
set xlabel 'seconds'
set ylabel 'MiB'
set key top left
plot '%s' using 1:2 title 'PT-BM resident (slot space memfd)' lw 2, '' using 1:3 title 'shared_buffers' dt 2
""" % (os.path.join(OUT, "bench-resize.png"), rz)
        subprocess.run(["gnuplot"], input=gp, text=True, check=False)

    def main(self):
        self.load0 = os.getloadavg()
        only = set(self.args.only.split(",")) if self.args.only else None
        try:
            for name, fn in (("W1", self.w1_w2_w6), ("W3", self.w3), ("W4", self.w4),
                             ("W5", self.w5), ("R", self.resize)):
                if only is None or name in only:
                    fn()
            self.write()
        finally:
            self.close()
        sys.stderr.write("\n")
        print(open(os.path.join(OUT, "bench.md")).read())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one short round of every workload")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--only", help="workload groups: W1 (with W2, W6), W3, W4, W5, R")
    p.add_argument("--tmpdir", default="/var/tmp", help="where the data directories go")
    p.add_argument("--profile", default="W3", help="workloads to profile with perf (comma list, '' for none)")
    p.add_argument("--ptbm-set", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting for the PT-BM server alone, over the workload's (repeatable), "
                        "e.g. buffer_release_run=1")
    args = p.parse_args()
    for kv in args.ptbm_set:
        if "=" not in kv or not kv.split("=", 1)[0]:
            p.error("--ptbm-set wants NAME=VALUE, not %r" % kv)
    for k in KINDS:
        if not os.path.exists(os.path.join(OUT, k, "bin", "postgres")):
            sys.exit("bench.py: build/postgres/%s is missing: run scripts/postgres.sh" % k)
    Bench(args).main()


if __name__ == "__main__":
    main()
