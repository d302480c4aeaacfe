"""make_decode_tables.py: Markdown tables from the logs of experiments/device/decode_run.sh —
bandwidth vs the SDPA peers (bench.log) and error / speed vs cache depth and split count
(depth.log). Usage: python3 make_decode_tables.py BENCH_LOG DEPTH_LOG > tables.md"""
import collections
import re
import sys


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def bandwidth(path):
    rows = collections.OrderedDict()
    for line in open(path):
        m = re.match(r"BENCH (\S+) ", line)
        if not m:
            continue
        f = fields(line)
        rows.setdefault(int(f["L"]), {})[m.group(1)] = f
    out = ["| L | ours (heuristic split) cold / warm TB/s | paged 16 | paged 256 | fixed split | SDPA flash cold / warm | SDPA cuDNN cold / warm | ours / flash (cold, warm) | ours / cuDNN (cold, warm) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for L, r in rows.items():
        o, fl, cu = r["ours-split"], r["torch-flash"], r["torch-cudnn"]
        cell = lambda f: "%.3f / %.3f" % (float(f["cold_TBps"]), float(f["warm_TBps"]))
        ratio = lambda a, b: "%.2f, %.2f" % (float(a["cold_TBps"]) / float(b["cold_TBps"]), float(a["warm_TBps"]) / float(b["warm_TBps"]))
        out.append("| %d | %s (%s x %s keys) | %s | %s | %s (%s x %s) | %s | %s | %s | %s |" % (
            L, cell(o), o["splits"], o["keys_per_split"], cell(r["ours-split.paged16"]), cell(r["ours-split.paged256"]),
            cell(r["ours-fixed"]), r["ours-fixed"]["splits"], r["ours-fixed"]["keys_per_split"], cell(fl), cell(cu),
            ratio(o, fl), ratio(o, cu)))
    return "\n".join(out)


def depth(path):
    speed = collections.OrderedDict()
    err = collections.OrderedDict()
    for line in open(path):
        if line.startswith("SPEED"):
            f = fields(line)
            speed.setdefault(int(f["depth"]), {})[f["splits"]] = f
        elif line.startswith("DEPTH"):
            f = fields(line)
            err.setdefault((f["dtype"], int(f["depth"])), {})[f["splits"]] = f
    splits = ["heuristic", "1", "2", "4", "8", "16"]
    out = ["### Speed vs depth and split count (B 8, 32/8 heads, D 128, S_q 1, FP16; cold-L2 median, us and TB/s)", "",
           "| depth | " + " | ".join("splits " + s for s in splits) + " |", "|---" * (len(splits) + 1) + "|"]
    for d, r in speed.items():
        out.append("| %d | " % d + " | ".join(
            "%s us, %s TB/s%s" % (r[s]["cold_us"], r[s]["cold_TBps"],
                                  "" if r[s]["actual_splits"] == s else " (%s splits)" % r[s]["actual_splits"])
            for s in splits) + " |")
    out += ["", "### Error vs depth and split count (B 1, 8/2 heads, D 128, S_q 1; max |O - truth| and FA-rule ratio error / (2 x baseline + 1e-5))", "",
            "| dtype | depth | baseline max_abs | " + " | ".join("splits %s: max_abs, ratio, max ULP" % s for s in splits[1:]) + " |",
            "|---" * (len(splits) + 2) + "|"]
    for (dt, d), r in err.items():
        out.append("| %s | %d | %s | " % (dt, d, r["1"]["baseline"]) + " | ".join(
            "%s, %s, %s%s" % (r[s]["max_abs"], r[s]["ratio"], r[s]["ulp_max"], "" if r[s]["pass"] == "1" else " FAIL")
            for s in splits[1:]) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print("### Bandwidth vs SDPA (B 8, 32/8 heads, D 128, S_q 1, FP16)\n")
    print(bandwidth(sys.argv[1]))
    print()
    print(depth(sys.argv[2]))
