#!/usr/bin/env python3
"""external_agreement.py: shows that `attnscope check` and `attnscope diagnose` say what the sweep
said about an [[external]] kernel's output. For each chosen point of a sweep database it writes
the same case with `attnscope make-inputs` (same generator, distribution and seed as the sweep),
runs the kernel's worker on it through the protocol (command and layout from the sweep file's
[[external]] entry), then `attnscope check` on o.npy and `attnscope diagnose` on a q/k/v/o dump,
and compares max_abs, the FA-rule verdict and the diagnosis with the database row. Exit 1 on any
disagreement. Needs NumPy (and tomllib: Python 3.11, or tomli); the worker may need more (torch).

  python3 experiments/device/external_agreement.py --attnscope build/cpu/cli/attnscope \\
      --spec experiments/sweeps/external_numpy.toml --db results/external_numpy.sqlite \\
      --points numpy.reference:7:37,numpy.bug.top-left-mask:7:37 --out /tmp/agreement
Points are KERNEL:S_Q:CACHE_DEPTH (first heads / head_dim / dtype / seed of the spec, or
KERNEL:S_Q:DEPTH:HQ:HKV:DTYPE).
"""
import argparse
import json
import os
import sqlite3
import struct
import subprocess
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11: the same parser, as tomli or vendored by pip
    try:
        import tomli as tomllib
    except ImportError:
        from pip._vendor import tomli as tomllib

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    types = {"F16": np.float16, "BF16": np.uint16, "F32": np.float32, "F64": np.float64, "I64": np.int64}
    out = {}
    for name, e in header.items():
        if name != "__metadata__":
            a, b = e["data_offsets"]
            out[name] = np.frombuffer(data[a:b], dtype=types[e["dtype"]]).reshape(e["shape"])
    return out, header.get("__metadata__", {})


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - (8 + len(blob)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"".join(blobs))


def run_worker(command, folder, problem):
    request = json.dumps({"id": 1, "dir": folder, "problem": problem}) + "\n"
    r = subprocess.run(command, input=request, capture_output=True, text=True, timeout=900)
    answer = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
    if not answer.get("ok"):
        raise RuntimeError(f"worker failed: {answer} {r.stderr[-2000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attnscope", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--points", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.spec, "rb") as f:
        spec = tomllib.load(f)
    spec_dir = os.path.dirname(os.path.abspath(args.spec))
    externals = {e["name"]: e for e in spec.get("external", [])}
    sweep = spec["sweep"]
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    os.makedirs(args.out, exist_ok=True)
    disagreements = 0
    print(f"{'point':<58} {'sweep max_abs':>14} {'check max_abs':>14} {'FA sweep/check':>15}  diagnosis sweep | check | diagnose")
    for point in args.points.split(","):
        parts = point.split(":")
        name, sq, depth = parts[0], int(parts[1]), int(parts[2])
        hq, hkv = (int(x) for x in (parts[3:5] if len(parts) > 4 else sweep.get("heads", ["8:2"])[0].split(":")))
        dtype = parts[5] if len(parts) > 5 else sweep.get("dtypes", ["fp16"])[0]
        dim = sweep.get("head_dim", [64])[0]
        ext = externals[name]
        layout = ext["layout"]
        command = [c.replace("{spec_dir}", spec_dir) for c in ext["command"]]
        env_extra = {k: v.replace("{spec_dir}", spec_dir) for k, v in ext.get("env", {}).items()}
        label = f"b1.sq{sq}.sk{sq + depth}.h{hq}:{hkv}.d{dim}.{dtype}.causal"
        folder = os.path.join(args.out, name + "." + label)
        os.makedirs(folder, exist_ok=True)
        case = os.path.join(folder, "case.safetensors")
        subprocess.run([args.attnscope, "make-inputs", "--seqlen-q", str(sq), "--seqlen-k", str(sq + depth), "--heads",
                        f"{hq}:{hkv}", "--dim", str(dim), "--dtype", dtype, "--layout", layout, "--out", case],
                       check=True, capture_output=True)
        tensors, meta = read_safetensors(case)
        for n in "qkv":
            np.save(os.path.join(folder, n + ".npy"), tensors[n])
        problem = json.loads(meta["attnscope.problem"])
        os.environ.update(env_extra)
        run_worker(command, folder, problem)
        o_path = os.path.join(folder, "o.npy")
        check = json.loads(subprocess.run([args.attnscope, "check", case, o_path, "--json"], capture_output=True,
                                          text=True).stdout)
        o = np.load(o_path)
        dump = os.path.join(folder, "dump.safetensors")
        st_dtype = {"fp16": "F16", "bf16": "BF16"}[dtype]
        if dtype == "bf16" and o.dtype != np.uint16:
            o = (o.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)  # exact: values are bf16
        write_safetensors(dump, {"q": tensors["q"], "k": tensors["k"], "v": tensors["v"], "o": o.astype(tensors["q"].dtype)},
                          st_dtype)
        diag = json.loads(subprocess.run([args.attnscope, "diagnose", dump, "--layout", layout, "--json"],
                                         capture_output=True, text=True).stdout)
        row = db.execute("SELECT status, metrics FROM results WHERE kernel = ? AND point_key LIKE ?",
                         (name, f"{name}|{label}|normal|seed0")).fetchone()
        if row is None or row[0] != "ok":
            print(f"{name}|{label}: no ok row in the database ({row[0] if row else 'missing'})")
            disagreements += 1
            continue
        m = json.loads(row[1])
        sweep_dx = m.get("diagnosis", {}).get("verdict", "-") + (
            " — " + m["diagnosis"]["category"] if m.get("diagnosis", {}).get("category") else "")
        check_dx = check["diagnosis"]["verdict"] + (" — " + check["diagnosis"]["category"] if check["diagnosis"]["category"] else "")
        diag_dx = diag["verdict"] + (" — " + diag["category"] if diag["category"] else "")
        same = (m["kernel"]["max_abs"] == check["metrics"]["kernel"]["max_abs"]
                and m["fa_rule_pass"] == check["metrics"]["fa_rule_pass"]
                and ("diagnosis" not in m or sweep_dx == check_dx == diag_dx))
        disagreements += 0 if same else 1
        print(f"{name + '|' + label:<58} {m['kernel']['max_abs']:>14.6g} {check['metrics']['kernel']['max_abs']:>14.6g} "
              f"{str(m['fa_rule_pass']) + '/' + str(check['metrics']['fa_rule_pass']):>15}  {sweep_dx} | {check_dx} | "
              f"{diag_dx}{'' if same else '   <-- DISAGREE'}")
    print(f"agreement: {'all points agree' if disagreements == 0 else str(disagreements) + ' disagreements'}")
    sys.exit(1 if disagreements else 0)


if __name__ == "__main__":
    main()
