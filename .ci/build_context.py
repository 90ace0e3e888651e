"""The build context of one function, as faas-cli and docker see it: faas-cli 0.18's
assembly of build/<fn>/ (template, handler overlay, configuration.copy), and the files
`docker build` receives once the template's .dockerignore is applied the way Docker's
patternmatcher applies it. Used by .ci/check-build-contexts."""

import os
import re
import shutil

import yaml


# ------------------------------------------------------------------ faas-cli's context assembly

def copy_entry(src, dst):
    """go-sdk builder copy: directories recursively (merged into what exists), files
    overwritten; no ignore list; symlinks followed."""
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def assemble(project, name, lang, handler, copy_paths, build_dir):
    """build/<name>/ as `faas-cli build --shrinkwrap` writes it (OPENFAAS.md §1 a-c)."""
    template = os.path.join(project, "template", lang)
    if not os.path.isfile(os.path.join(template, "template.yml")):
        raise SystemExit("template/%s/template.yml missing: faas-cli would say the language "
                         "is not supported (or pull templates from the network)" % lang)
    with open(os.path.join(template, "template.yml")) as f:
        handler_folder = (yaml.safe_load(f) or {}).get("handler_folder") or "function"
    ctx = os.path.join(build_dir, name)
    shutil.rmtree(ctx, ignore_errors=True)                  # a. delete + recreate
    os.makedirs(build_dir, exist_ok=True)
    shutil.copytree(template, ctx)                          # b. the whole template
    fn_dir = os.path.join(ctx, handler_folder)
    os.makedirs(fn_dir, exist_ok=True)
    for entry in sorted(os.listdir(handler)):               # c. handler overlay
        if entry in ("build", "template"):
            continue
        copy_entry(os.path.join(handler, entry), os.path.join(fn_dir, entry))
    for p in copy_paths:                                    # d. configuration.copy
        src = os.path.normpath(os.path.join(project, p))
        rel = os.path.relpath(src, project)
        if rel == "." or rel.startswith(".."):
            raise SystemExit("configuration.copy %r: must be inside the project and not "
                             "the project root (faas-cli refuses it)" % p)
        copy_entry(src, os.path.join(fn_dir, rel))
    return ctx


# ------------------------------------------------------------------ .dockerignore (moby patternmatcher)

def read_dockerignore(path):
    patterns = []
    if not os.path.exists(path):
        return patterns
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            line = os.path.normpath(line).lstrip("/")
            if line == ".":
                continue
            patterns.append((exclusion, line, re.compile(pattern_regex(line))))
    return patterns


def pattern_regex(pattern):
    """moby/patternmatcher Pattern.compile: ** spans directories, * and ? do not."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif ch == "[":  # character class, passed through
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(ch)
            else:
                out += pattern[i:j + 1]
                i = j
        else:
            out += re.escape(ch)
        i += 1
    return out + "$"


def excluded(rel, patterns):
    """MatchesOrParentMatches: a pattern matching the path or any parent directory."""
    parts = rel.split("/")
    matched = False
    for exclusion, _, rx in patterns:
        hit = bool(rx.match(rel))
        if not hit:
            hit = any(rx.match("/".join(parts[:i])) for i in range(1, len(parts)))
        if hit:
            matched = not exclusion
    return matched


def docker_context(ctx, out):
    """Copies the files `docker build` would receive from ctx to out; returns
    (kept, dropped) relative paths."""
    patterns = read_dockerignore(os.path.join(ctx, ".dockerignore"))
    shutil.rmtree(out, ignore_errors=True)
    kept, dropped = [], []
    for dirpath, dirnames, filenames in os.walk(ctx):
        for fname in filenames:
            full = os.path.join(dirpath, fname)
            rel = os.path.relpath(full, ctx).replace(os.sep, "/")
            if excluded(rel, patterns) and rel not in ("Dockerfile", ".dockerignore"):
                dropped.append(rel)
                continue
            kept.append(rel)
            dst = os.path.join(out, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            # Fresh mtimes, as the Dockerfile touches its sources: cargo decides freshness
            # by mtime, and every context shares one target dir where the same path
            # crate (same relative path, same unit hash) was built from older sources.
            shutil.copy(full, dst)
    return kept, dropped
