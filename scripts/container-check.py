#!/usr/bin/env python3
"""Helpers of scripts/container-check.sh: the .dockerignore and Dockerfile
readers, and the launcher that starts a process the way the image would.

    context REPO DEST        copy REPO into DEST as .dockerignore filters it
    plan DOCKERFILE OUTDIR   translate the two stages into OUTDIR/build.sh and
                             OUTDIR/runtime.sh, calls to the b_* and r_*
                             functions of container-check.sh; refuse anything
                             it cannot replay faithfully
    exec [--enter] ROOT WORKDIR USER ENVFILE -- ARGV...
                             mount ROOT read-only with /proc and /dev (unless
                             --enter: already done by the container), chroot,
                             chdir WORKDIR, become USER, exec ARGV with the
                             NUL-separated ENVFILE as the environment
    settings CONFIG_DIR OVERLAY SECTION KEY
                             a setting from base.toml and the overlay
    freeport                 a free loopback TCP port
    jsonlines FILE           fail unless every line of FILE is JSON
"""

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def die(msg):
    print(f"container-check: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- .dockerignore: the semantics of moby/patternmatcher ----------------


def go_clean(p):
    p = posixpath.normpath(p)
    return "/" + p.lstrip("/") if p.startswith("//") else p


def compile_pattern(p):
    rx, i = "^", 0
    while i < len(p):
        c = p[i]
        if c == "*" and p[i + 1 : i + 2] == "*":
            i += 2
            if p[i : i + 1] == "/":
                i += 1
            rx += ".*" if i >= len(p) else "(.*/)?"
            continue
        if c == "*":
            rx += "[^/]*"
        elif c == "?":
            rx += "[^/]"
        elif c == "\\":
            i += 1
            rx += re.escape(p[i]) if i < len(p) else "\\\\"
        elif c in "[]":
            rx += c
        else:
            rx += re.escape(c)
        i += 1
    return re.compile(rx + "$", re.DOTALL)


def read_ignore(path):
    patterns = []
    if not os.path.exists(path):
        return patterns
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f.read().split("\n")):
            line = raw.lstrip("\ufeff") if n == 0 else raw
            if line.startswith("#"):
                continue
            line = line.strip()
            if not line:
                continue
            invert = line.startswith("!")
            if invert:
                line = line[1:].strip()
            if not line:
                die(f"{path}:{n + 1}: an empty exclusion pattern")
            line = go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
            patterns.append((invert, compile_pattern(line)))
    return patterns


def excluded(patterns, rel):
    # MatchesOrParentMatches: the last pattern that matches the path or one
    # of its parent directories decides.
    matched = False
    parent = posixpath.dirname(rel) or "."
    parents = parent.split("/")
    for invert, rx in patterns:
        if invert != matched:
            continue
        hit = bool(rx.match(rel))
        if not hit and parent != ".":
            hit = any(
                rx.match("/".join(parents[:k])) for k in range(1, len(parents) + 1)
            )
        if hit:
            matched = not invert
    return matched


def cmd_context(repo, dest):
    patterns = read_ignore(os.path.join(repo, ".dockerignore"))
    exceptions = any(invert for invert, _ in patterns)
    files, size, left_out = 0, 0, []

    def walk(rel):
        nonlocal files, size
        for entry in sorted(os.scandir(os.path.join(repo, rel)), key=lambda e: e.name):
            r = posixpath.join(rel, entry.name) if rel else entry.name
            out = os.path.join(dest, r)
            if entry.is_dir(follow_symlinks=False):
                if excluded(patterns, r):
                    # Only an exception (`!`) can bring back something inside.
                    if not exceptions:
                        left_out.append(r + "/")
                        continue
                else:
                    os.makedirs(out, exist_ok=True)
                walk(r)
                if os.path.isdir(out):
                    shutil.copystat(entry.path, out)
                continue
            if excluded(patterns, r):
                left_out.append(r)
                continue
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), out)
            elif entry.is_file(follow_symlinks=False):
                shutil.copy2(entry.path, out)
            else:
                continue
            files += 1
            size += entry.stat(follow_symlinks=False).st_size

    os.makedirs(dest, exist_ok=True)
    walk("")
    print(
        f"{files} files, {size // 1024} KiB; left out: {' '.join(left_out) or 'nothing'}"
    )


# ---- Dockerfile -----------------------------------------------------------


SUPPORTED = "keep to WORKDIR, COPY, ENV, RUN, USER, EXPOSE, HEALTHCHECK, STOPSIGNAL, ENTRYPOINT, CMD, LABEL, or teach scripts/container-check.py the new instruction"


def instructions(path):
    lines = read(path).split("\n")
    for line in lines:
        m = re.match(r"#\s*(\w+)\s*=", line)
        if not m:
            break
        if m.group(1).lower() == "escape":
            die(f"{path}: the escape directive is not supported")
    out, cur, start = [], None, 0
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if cur is None:
            if not s or s.startswith("#"):
                continue
            cur, start = "", n
        elif not s or s.startswith("#"):
            continue  # comments and blank lines inside a continuation are dropped
        m = re.search(r"\\[ \t]*$", line)
        if m:
            cur += line[: m.start()]
            continue
        out.append((start, cur + line))
        cur = None
    if cur is not None:
        out.append((start, cur))
    result = []
    for n, text in out:
        m = re.match(r"\s*(\S+)\s*(.*)$", text, re.DOTALL)
        result.append((n, m.group(1).upper(), m.group(2).strip()))
    return result


def flags(args):
    found = []
    while args.startswith("--"):
        m = re.match(r"(--\S+)\s*(.*)$", args, re.DOTALL)
        found.append(m.group(1))
        args = m.group(2)
    return found, args


def exec_or_shell(text):
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except ValueError:
            die(f"not a JSON array: {text}")
        return argv, False
    return ["/bin/sh", "-c", text], True


def env_pairs(n, args):
    if "$" in args:
        die(f"Dockerfile:{n}: variables in ENV are not supported")
    toks = shlex.split(args)
    if toks and "=" not in toks[0]:
        key, _, value = args.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for tok in toks:
        if "=" not in tok:
            die(f"Dockerfile:{n}: cannot read ENV {args!r}")
        pairs.append(tuple(tok.split("=", 1)))
    return pairs


def copy_args(n, args):
    fl, rest = flags(args)
    src_stage = None
    for f in fl:
        if f.startswith("--from="):
            src_stage = f[len("--from=") :]
        else:
            die(f"Dockerfile:{n}: COPY {f} is not supported")
    paths = json.loads(rest) if rest.startswith("[") else rest.split()
    if len(paths) < 2:
        die(f"Dockerfile:{n}: COPY needs a source and a destination")
    *srcs, dest = paths
    for p in paths:
        if "$" in p or re.search(r"[*?\[]", p):
            die(f"Dockerfile:{n}: COPY {p}: variables and wildcards are not supported")
    if len(srcs) > 1 and not dest.endswith("/"):
        die(
            f"Dockerfile:{n}: COPY with several sources needs a destination ending in /"
        )
    return src_stage, srcs, dest


def under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def q(*words):
    return " ".join(shlex.quote(str(w)) for w in words)


def duration(n, text):
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        die(f"Dockerfile:{n}: cannot read the duration {text!r}")
    for value, unit in parts:
        total += float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


APT_PART = re.compile(
    r"^(apt-get update|apt-get install( -\S+)*( [a-z0-9][a-z0-9.+:-]*)+|rm -rf /var/lib/apt/lists/\*)$"
)


def apt_packages(cmd):
    """The packages an apt-get RUN installs (None when the RUN does not use
    apt), and the RUN's commands split at `&&`."""
    parts = [" ".join(p.split()) for p in cmd.split("&&")]
    apt = [p for p in parts if p.startswith("apt-get") or "/var/lib/apt" in p]
    if not apt:
        return None, parts
    pkgs = []
    for p in parts:
        if p.startswith("apt-get install"):
            pkgs += [w for w in p.split()[2:] if not w.startswith("-")]
    return pkgs, parts


def cmd_plan(path, outdir):
    stages = []
    for n, ins, args in instructions(path):
        if ins == "FROM":
            toks = args.split()
            if (
                toks[0].startswith("--")
                or len(toks) not in (1, 3)
                or (len(toks) == 3 and toks[1].lower() != "as")
            ):
                die(
                    f"Dockerfile:{n}: FROM {args}: only `FROM image [AS name]` is supported"
                )
            stages.append(
                {
                    "line": n,
                    "image": toks[0],
                    "name": toks[2] if len(toks) == 3 else None,
                    "body": [],
                }
            )
        elif not stages:
            die(f"Dockerfile:{n}: {ins} before the first FROM is not supported")
        else:
            stages[-1]["body"].append((n, ins, args))
    if len(stages) != 2:
        die(f"{path}: expected two stages (build, runtime), found {len(stages)}")
    build, runtime = stages

    # Build stage: replayed on the host, in a scratch WORKDIR.
    m = re.fullmatch(r"rust:(\d+(?:\.\d+){0,2})-(?:slim-)?([a-z]+)", build["image"])
    if not m:
        die(
            f"Dockerfile:{build['line']}: build stage FROM {build['image']}: expected rust:<version>[-slim]-<debian release>"
        )
    lines = [q("b_from", m.group(1), m.group(2))]
    root_wd, wd = None, None
    for n, ins, args in build["body"]:
        lines.append(f"line={n}")
        if ins == "WORKDIR":
            if "$" in args:
                die(f"Dockerfile:{n}: variables in WORKDIR are not supported")
            wd = posixpath.normpath(posixpath.join(wd or "/", args))
            root_wd = root_wd or wd
            if not under(wd, root_wd):
                die(
                    f"Dockerfile:{n}: WORKDIR {wd} is outside the first WORKDIR {root_wd}"
                )
            lines.append(q("b_workdir", posixpath.relpath(wd, root_wd)))
        elif ins == "ENV":
            lines += [q("b_env", k, v) for k, v in env_pairs(n, args)]
        elif ins == "COPY":
            if wd is None:
                die(f"Dockerfile:{n}: COPY before WORKDIR is not supported")
            stage, srcs, dest = copy_args(n, args)
            if stage:
                die(f"Dockerfile:{n}: COPY --from in the build stage is not supported")
            target = posixpath.normpath(posixpath.join(wd, dest))
            if not under(target, root_wd):
                die(f"Dockerfile:{n}: COPY to {target}, outside WORKDIR {root_wd}")
            rels = [posixpath.normpath(s.lstrip("/")) or "." for s in srcs]
            if any(r.startswith("..") for r in rels):
                die(f"Dockerfile:{n}: COPY from outside the context")
            lines.append(
                q(
                    "b_copy",
                    posixpath.relpath(target, root_wd),
                    int(dest.endswith("/")),
                    *rels,
                )
            )
        elif ins == "RUN":
            fl, cmd = flags(args)
            if cmd.startswith("["):
                die(
                    f"Dockerfile:{n}: exec-form RUN is not supported in the build stage"
                )
            if re.search(r"<<-?\s*['\"]?\w", cmd):
                die(f"Dockerfile:{n}: heredocs are not supported")
            mounts = []
            for f in fl:
                if not f.startswith("--mount="):
                    die(f"Dockerfile:{n}: RUN {f} is not supported")
                opts = dict(
                    o.split("=", 1) if "=" in o else (o, "")
                    for o in f[len("--mount=") :].split(",")
                )
                if opts.get("type") != "cache":
                    die(f"Dockerfile:{n}: only cache mounts are supported ({f})")
                target = (
                    opts.get("target") or opts.get("dst") or opts.get("destination")
                )
                if not target:
                    die(f"Dockerfile:{n}: a cache mount without a target")
                target = posixpath.normpath(posixpath.join(wd, target))
                # The rust image sets CARGO_HOME=/usr/local/cargo.
                if under(target, root_wd):
                    mounts.append("wd:" + posixpath.relpath(target, root_wd))
                elif under(target, "/usr/local/cargo"):
                    mounts.append(
                        "cargo:" + posixpath.relpath(target, "/usr/local/cargo")
                    )
                else:
                    die(
                        f"Dockerfile:{n}: cache mount {target}: not under WORKDIR or CARGO_HOME, no stand-in for it"
                    )
            pkgs, parts = apt_packages(cmd)
            if pkgs is not None:
                if not all(APT_PART.match(p) for p in parts) or mounts:
                    die(
                        f"Dockerfile:{n}: an apt-get RUN must hold only apt-get update, apt-get install and rm -rf /var/lib/apt/lists/*"
                    )
                lines.append(q("b_apt", *pkgs))
                continue
            if wd is None:
                die(
                    f"Dockerfile:{n}: RUN before WORKDIR is not supported (apt-get RUNs excepted)"
                )
            # This RUN runs on the host as root: keep it inside WORKDIR.
            if re.search(r"(^|[\s=;&|<>(`'\"])(/|~|\.\.(/|\s|$))", cmd):
                die(
                    f"Dockerfile:{n}: build-stage RUN uses an absolute path, ~ or ..; container-check replays it on the host, so it may only touch WORKDIR (use paths relative to WORKDIR)"
                )
            lines.append(q("b_run", cmd, *mounts))
        elif ins == "LABEL":
            continue
        else:
            die(
                f"Dockerfile:{n}: {ins} in the build stage is not supported; {SUPPORTED}"
            )

    # Runtime stage: a mmdebstrap root filesystem.
    m = re.fullmatch(r"debian:([a-z]+)(-slim)?", runtime["image"])
    if not m:
        die(
            f"Dockerfile:{runtime['line']}: runtime FROM {runtime['image']}: expected debian:<release>[-slim]"
        )
    rt = [q("r_from", m.group(1), int(bool(m.group(2))))]
    rt_wd, settled, entry_shell = "/", False, False
    for n, ins, args in runtime["body"]:
        rt.append(f"line={n}")
        if ins == "RUN":
            fl, cmd = flags(args)
            if fl or cmd.startswith("[") or re.search(r"<<-?\s*['\"]?\w", cmd):
                die(
                    f"Dockerfile:{n}: runtime RUN: flags, exec form and heredocs are not supported"
                )
            if settled:
                die(
                    f"Dockerfile:{n}: runtime RUN after WORKDIR/COPY/ENV/USER is not supported (the root filesystem is built from the RUNs first)"
                )
            pkgs, _ = apt_packages(cmd)
            rt.append(q("r_run", cmd))
            if pkgs:
                rt.append(q("r_apt", *pkgs))
            continue
        settled = True
        if ins == "WORKDIR":
            if "$" in args:
                die(f"Dockerfile:{n}: variables in WORKDIR are not supported")
            rt_wd = posixpath.normpath(posixpath.join(rt_wd, args))
            rt.append(q("r_workdir", rt_wd))
        elif ins == "COPY":
            stage, srcs, dest = copy_args(n, args)
            target = posixpath.normpath(posixpath.join(rt_wd, dest))
            isdir = int(dest.endswith("/"))
            if stage is None:
                rels = [posixpath.normpath(s.lstrip("/")) or "." for s in srcs]
                if any(r.startswith("..") for r in rels):
                    die(f"Dockerfile:{n}: COPY from outside the context")
                rt.append(q("r_copy_context", target, isdir, *rels))
            else:
                if stage != build["name"]:
                    die(
                        f"Dockerfile:{n}: COPY --from={stage}: only the build stage ({build['name']}) is supported"
                    )
                if root_wd is None:
                    die(f"Dockerfile:{n}: COPY --from a build stage without WORKDIR")
                rels = []
                for s in srcs:
                    p = posixpath.normpath(posixpath.join(wd, s))
                    if not under(p, root_wd):
                        die(
                            f"Dockerfile:{n}: COPY --from={stage} {p}: outside the build WORKDIR {root_wd}, no stand-in for it"
                        )
                    rels.append(posixpath.relpath(p, root_wd))
                rt.append(q("r_copy_build", target, isdir, *rels))
        elif ins == "ENV":
            rt += [q("r_env", k, v) for k, v in env_pairs(n, args)]
        elif ins == "USER":
            rt.append(q("r_user", args))
        elif ins == "EXPOSE":
            rt += [q("r_expose", p.split("/")[0]) for p in args.split()]
        elif ins == "STOPSIGNAL":
            rt.append(q("r_stopsignal", args))
        elif ins == "HEALTHCHECK":
            fl, rest = flags(args)
            opts = {
                "interval": "30s",
                "timeout": "30s",
                "start-period": "0s",
                "retries": "3",
            }
            for f in fl:
                k, _, v = f[2:].partition("=")
                if k not in opts:
                    die(f"Dockerfile:{n}: HEALTHCHECK --{k} is not supported")
                opts[k] = v
            if not rest.upper().startswith("CMD"):
                die(f"Dockerfile:{n}: HEALTHCHECK must have a CMD")
            argv, _ = exec_or_shell(rest[3:].strip())
            rt.append(
                q(
                    "r_healthcheck",
                    duration(n, opts["interval"]),
                    duration(n, opts["timeout"]),
                    duration(n, opts["start-period"]),
                    int(opts["retries"]),
                    *argv,
                )
            )
        elif ins == "ENTRYPOINT":
            argv, entry_shell = exec_or_shell(args)
            rt.append(q("r_entrypoint", *argv))
        elif ins == "CMD":
            argv, _ = exec_or_shell(args)
            rt.append(q("r_cmd", *argv))
        elif ins == "LABEL":
            continue
        else:
            die(
                f"Dockerfile:{n}: {ins} in the runtime stage is not supported; {SUPPORTED}"
            )
    if entry_shell:
        rt.append("r_cmd")  # a shell-form ENTRYPOINT ignores CMD
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "build.sh"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(outdir, "runtime.sh"), "w") as f:
        f.write("\n".join(rt) + "\n")


# ---- running a process the way the image would ----------------------------


def user_ids(root, spec):
    """uid, gid, supplementary groups and HOME for USER `spec`, from the
    image's /etc/passwd and /etc/group, as Docker resolves them."""

    def table(name):
        try:
            return [
                l.split(":")
                for l in read(os.path.join(root, "etc", name)).splitlines()
                if l
            ]
        except OSError:
            return []

    passwd, group = table("passwd"), table("group")
    user, _, grp = spec.partition(":")
    entry = next(
        (p for p in passwd if (p[2] if user.isdigit() else p[0]) == user), None
    )
    if entry is None and not user.isdigit():
        die(f"USER {spec}: no such user in the image")
    uid = int(user) if user.isdigit() else int(entry[2])
    if grp.isdigit():
        gid = int(grp)
    elif grp:
        named = next((g for g in group if g[0] == grp), None)
        if named is None:
            die(f"USER {spec}: no such group in the image")
        gid = int(named[2])
    else:
        # Docker: the user's primary group, or root's when it has no entry.
        gid = int(entry[3]) if entry else 0
    extra = [int(g[2]) for g in group if entry and entry[0] in g[3].split(",")]
    home = entry[5] if entry else "/"
    return uid, gid, sorted({gid, *extra}), home


def cmd_exec(args):
    # Run by `unshare --mount` (and `--pid --fork` for the container itself),
    # so the mounts below live and die with that namespace.
    enter = args[0] == "--enter"
    if enter:
        args = args[1:]
    root, workdir, user, envfile, sep, *argv = args
    assert sep == "--"
    if not enter:

        def sh(*a):
            subprocess.run(a, check=True)

        sh("mount", "--bind", root, root)
        sh("mount", "-o", "remount,bind,ro", root)
        sh("mount", "-t", "proc", "-o", "nosuid,nodev,noexec", "proc", f"{root}/proc")
        sh(
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "nosuid,noexec,mode=755,size=1m",
            "tmpfs",
            f"{root}/dev",
        )
        for node in ("null", "zero", "full", "random", "urandom"):
            open(f"{root}/dev/{node}", "w").close()
            sh("mount", "--bind", f"/dev/{node}", f"{root}/dev/{node}")
        for name, target in (
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ):
            os.symlink(target, f"{root}/dev/{name}")
    uid, gid, groups, home = user_ids(root, user)
    env = dict(kv.split("=", 1) for kv in read(envfile).split("\0") if kv)
    env.setdefault("HOME", home)
    os.chroot(root)
    os.chdir(workdir)
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    os.execvpe(argv[0], argv, env)


def cmd_settings(config_dir, overlay, section, key):
    import tomllib

    value = None
    for name in ("base", overlay):
        with open(os.path.join(config_dir, f"{name}.toml"), "rb") as f:
            value = tomllib.load(f).get(section, {}).get(key, value)
    print(value)


def cmd_freeport():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])


def cmd_jsonlines(path):
    for l in read(path).splitlines():
        try:
            if l.strip():
                json.loads(l)
        except ValueError:
            die(f"{path}: a log line that is not JSON: {l[:200]}")


def main():
    cmd, *rest = sys.argv[1:]
    if cmd == "exec":
        cmd_exec(rest)
    else:
        {
            "context": cmd_context,
            "plan": cmd_plan,
            "settings": cmd_settings,
            "freeport": cmd_freeport,
            "jsonlines": cmd_jsonlines,
        }[cmd](*rest)


if __name__ == "__main__":
    main()
