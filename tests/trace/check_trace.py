#!/usr/bin/env python3
"""Checks a trace written by asyncwith (aw/trace.hpp): the structure every trace must have,
then the expectations given as arguments. Exit status 0 when all hold; failures on stdout.

  check_trace.py trace.json task=worker manager=cancel_scope nested=async_with>step ...

Expectations (SUB: a substring):
  task=SUB            a task track whose name contains SUB
  parent=CHILD>PARENT the task CHILD was started by the task PARENT
  manager=SUB         a manager span whose name contains SUB
  exception=SUB       a manager span whose exception contains SUB
  nested=OUTER>INNER  a slice named INNER lies inside a slice named OUTER, on the same track
  wait=SUB            a wait span whose name contains SUB
  intask=TASK>SUB     a wait span whose name contains SUB on the track of a task named TASK
  kind=KIND>SUB       a wait span whose name contains SUB has args.kind KIND
  worker=SUB          a slice on a worker thread's track whose name contains SUB
  instant=SUB         an instant event whose name contains SUB
  flows=N             at least N flow arrows (start and finish on different tracks)
  workers=N           at least N worker thread tracks
  loops=N             at least N loops (processes)
  dropped>=N          the file says at least N records were dropped
  events<=N           at most N events in the file
"""
import json
import sys


def main():
    path, expectations = sys.argv[1], sys.argv[2:]
    with open(path) as f:
        doc = json.load(f)  # well formed, or this raises
    failures = []
    events = doc["traceEvents"]
    names = {}  # (pid, tid) -> track name
    tasks = {}  # (pid, tid) -> (task name, parent tid)
    slices = {}  # (pid, tid) -> [(ts, end, name, cat, args)]
    instants, flows, pids = [], {}, set()
    stacks = {}
    for e in events:
        ph = e["ph"]
        key = (e.get("pid"), e.get("tid"))
        pids.add(e.get("pid"))
        if ph == "M":
            if e["name"] == "thread_name":
                names[key] = e["args"]["name"]
                if "aw_task" in e["args"]:
                    tasks[key] = (e["args"]["aw_task"], e["args"]["aw_parent"])
            continue
        if ph == "X":
            if e["dur"] < 0:
                failures.append("negative duration: %r" % e)
            slices.setdefault(key, []).append((e["ts"], e["ts"] + e["dur"], e["name"], e.get("cat"), e.get("args", {})))
        elif ph == "B":
            stacks.setdefault(key, []).append(e)
        elif ph == "E":
            if not stacks.get(key):
                failures.append("an end without a begin: %r" % e)
            else:
                stacks[key].pop()
        elif ph in ("i", "I"):
            instants.append(e)
        elif ph in ("s", "f"):
            flows.setdefault(e["id"], []).append(e)
    for key, st in stacks.items():
        if st:
            failures.append("begins without an end on %r: %r" % (key, st))
    # Every track used has a name; slices on one track nest (contain or are disjoint).
    eps = 0.0015  # the file's times have a nanosecond's resolution
    for key, ss in slices.items():
        if key not in names:
            failures.append("a track without a name: %r" % (key,))
        ss.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        open_ = []
        for s in ss:
            while open_ and open_[-1][1] <= s[0] + eps:
                open_.pop()
            if open_ and s[1] > open_[-1][1] + eps:
                failures.append("slices overlap without nesting on %r: %r and %r" % (names.get(key), open_[-1][:3], s[:3]))
            open_.append(s)
    for fid, fs in flows.items():
        phs = sorted(f["ph"] for f in fs)
        if phs != ["f", "s"]:
            failures.append("a flow without both ends: %r" % fs)
    for e in instants:
        if (e["pid"], e["tid"]) not in names:
            failures.append("an instant on a track without a name: %r" % e)

    def all_slices():
        for key, ss in slices.items():
            for s in ss:
                yield key, s

    def task_name(pid, tid):
        return tasks.get((pid, tid), ("", 0))[0]

    for x in expectations:
        ok = True
        if x.startswith("task="):
            ok = any(x[5:] in n for n, _ in tasks.values())
        elif x.startswith("parent="):
            child, parent = x[7:].split(">", 1)
            ok = any(child in n and parent in task_name(pid, p) for (pid, _), (n, p) in tasks.items())
        elif x.startswith("manager="):
            ok = any(s[3] == "manager" and x[8:] in s[2] for _, s in all_slices())
        elif x.startswith("exception="):
            ok = any(s[3] == "manager" and x[10:] in s[4].get("exception", "") for _, s in all_slices())
        elif x.startswith("nested="):
            outer, inner = x[7:].split(">", 1)
            ok = any(
                inner in s[2] and any(outer in o[2] and o is not s and o[0] <= s[0] + eps and s[1] <= o[1] + eps for o in slices[key])
                for key, s in all_slices())
        elif x.startswith("wait="):
            ok = any(s[3] == "wait" and x[5:] in s[2] for _, s in all_slices())
        elif x.startswith("intask="):
            task, sub = x[7:].split(">", 1)
            ok = any(s[3] == "wait" and sub in s[2] and task in task_name(*key) for key, s in all_slices())
        elif x.startswith("kind="):
            kind, sub = x[5:].split(">", 1)
            ok = any(s[3] == "wait" and sub in s[2] and s[4].get("kind") == kind for _, s in all_slices())
        elif x.startswith("worker="):
            ok = any(names.get(key, "").startswith("worker thread") and x[7:] in s[2] for key, s in all_slices())
        elif x.startswith("instant="):
            ok = any(x[8:] in e["name"] for e in instants)
        elif x.startswith("flows="):
            crossing = [fs for fs in flows.values() if len({(f["pid"], f["tid"]) for f in fs}) == 2]
            ok = len(crossing) >= int(x[6:])
        elif x.startswith("workers="):
            ok = sum(1 for n in names.values() if n.startswith("worker thread")) >= int(x[8:])
        elif x.startswith("loops="):
            ok = len({p for p in pids if p is not None}) >= int(x[6:])
        elif x.startswith("dropped>="):
            ok = doc.get("otherData", {}).get("aw_dropped_records", 0) >= int(x[9:])
        elif x.startswith("events<="):
            ok = len(events) <= int(x[8:])
        else:
            failures.append("unknown expectation " + x)
            continue
        if not ok:
            failures.append("expected " + x)
    if failures:
        print("tracks:", sorted(names.values()))
        for f in failures[:20]:
            print("FAIL:", f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
