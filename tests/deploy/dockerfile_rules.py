"""greyfaas's rules for the template's Dockerfile (template/rust-hyper/Dockerfile).

The Dockerfile is parsed with dockerfile_parse.DockerfileParser into a list of
`Instruction`s (comments included), grouped into `Stage`s. Each rule is a plain function
of the `BuildFiles` (the instructions and the .dockerignore lines) that returns a list of
problems, empty when the rule holds. test_dockerfile.py asserts that for the real
Dockerfile, and that each rule reports a copy broken on purpose; the breakages edit the
parsed instructions (a value, a base image, a shell command of a RUN), never the text,
so reformatting the Dockerfile breaks no test.
"""

import dataclasses
import io
import json
import re
import shlex

from dockerfile_parse import DockerfileParser

# Final bases that are minimal and carry /etc/ssl/certs/ca-certificates.crt themselves.
MINIMAL_WITH_CA = re.compile(r"^gcr\.io/distroless/(static|base|base-nossl|cc)-debian(\d+)"
                             r"(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$")
PINNED_TOOLCHAIN = re.compile(r"^rust:(\d+\.\d+(?:\.\d+)?)-slim-(\w+)$")
DEBIAN_RELEASE = {"11": "bullseye", "12": "bookworm", "13": "trixie"}
HADOLINT_PRAGMA = re.compile(r"\bhadolint\s+(global\s+)?ignore\b", re.I)
SHELL_SEPARATORS = re.compile(r"&&|\|\||;|\|")
LOCKED_CARGO_COMMANDS = ("build", "test", "install", "fetch")
BINARY_COPY = ["--from=build", "/out/handler", "/handler"]


@dataclasses.dataclass
class Instruction:
    """One Dockerfile instruction (keyword upper-case, COMMENT for a comment line) and its
    value as dockerfile_parse gives it (continuation lines joined)."""
    keyword: str
    value: str

    def tokens(self):
        return shell_words(self.value)


@dataclasses.dataclass
class Stage:
    """A FROM and the instructions after it."""
    base: str
    name: str | None
    instructions: list

    def values(self, keyword):
        return [i.value for i in self.instructions if i.keyword == keyword]


@dataclasses.dataclass
class BuildFiles:
    """What the rules read: the Dockerfile's instructions and the .dockerignore lines."""
    instructions: list
    dockerignore: list

    @property
    def stages(self):
        return split_stages(self.instructions)

    @property
    def final(self):
        return self.stages[-1]


@dataclasses.dataclass
class CargoCall:
    """`cargo <subcommand> <args>` found in a RUN."""
    subcommand: str
    args: list


# --------------------------------------------------------------------------- parsing

def parse_instructions(text):
    """Dockerfile text -> [Instruction], through dockerfile_parse (no variable expansion)."""
    # An in-memory file: given no fileobj, DockerfileParser reads and writes ./Dockerfile.
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
    return [Instruction(item["instruction"].upper(), item["value"]) for item in parser.structure]


def render(instructions):
    """Instructions back to Dockerfile text, one instruction a line."""
    def line(instruction):
        if instruction.keyword == "COMMENT":
            return "# %s\n" % instruction.value
        return "%s %s\n" % (instruction.keyword, instruction.value)

    return "".join(line(i) for i in instructions)


def load_build_files(dockerfile_path, dockerignore_path):
    with open(dockerfile_path) as f:
        instructions = parse_instructions(f.read())
    with open(dockerignore_path) as f:
        dockerignore = [line.strip() for line in f]
    return BuildFiles(instructions, dockerignore)


def from_image_and_name(value):
    """`FROM [--platform=...] image [AS name]` -> (image, name or None)."""
    words = [w for w in value.split() if not w.startswith("--")]
    image = words[0] if words else ""
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
    return image, name


def split_stages(instructions):
    stages = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append(Stage(*from_image_and_name(instruction.value), []))
        elif stages and instruction.keyword != "COMMENT":
            stages[-1].instructions.append(instruction)
    return stages


def shell_words(command):
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote: still give the words
        return command.split()


def shell_commands(run_value):
    """The simple commands of a RUN (split at &&, ||, ; and |), each as its words."""
    return [shell_words(c) for c in SHELL_SEPARATORS.split(run_value) if c.strip()]


def cargo_calls(run_value):
    calls = []
    for words in shell_commands(run_value):
        if words and words[0] == "cargo":
            rest = words[1:]
            if rest and rest[0].startswith("+"):  # cargo +toolchain ...
                rest = rest[1:]
            if rest:
                calls.append(CargoCall(rest[0], rest[1:]))
    return calls


def all_cargo_calls(build):
    return [call for stage in build.stages for value in stage.values("RUN")
            for call in cargo_calls(value)]


def runs_tests(call):
    return call.subcommand == "test" and "--no-run" not in call.args


def installs_into_out(call):
    args = " ".join(call.args)
    return call.subcommand == "install" and "--path function" in args and "--root /out" in args


def env_pairs(value):
    """The variables an ENV sets: `ENV k=v k2=v2` or the legacy `ENV k v`."""
    words = shell_words(value)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)


def copy_sources(value):
    """The source paths of a COPY/ADD (flags and the destination left out)."""
    words = [w for w in shell_words(value) if not w.startswith("--")]
    return words[:-1]


def copies_skeleton(value):
    return any(src.rstrip("/").endswith("skel") for src in copy_sources(value))


# --------------------------------------------------------------------------- rules: build

def multi_stage(build):
    """A build stage and a ship stage at least."""
    n = len(build.stages)
    return [] if n >= 2 else ["%d stage(s): want a build stage and a ship stage" % n]


def toolchain_pinned(build):
    """The build stages start from rust:<x.y>-slim-<debian release>."""
    stage_names = {s.name for s in build.stages if s.name}
    bases = [s.base for s in build.stages[:-1] if s.base not in stage_names]
    unpinned = [b for b in bases if not PINNED_TOOLCHAIN.match(b)]
    if not bases:
        return ["no toolchain image among the build stages"]
    return ["toolchain not pinned as rust:<x.y>-slim-<release>: %s" % b for b in unpinned]


def images_tagged(build):
    """No image is untagged or :latest (a digest, a stage name or scratch are fine)."""
    stage_names = {s.name for s in build.stages if s.name}
    problems = []
    for base in sorted({s.base for s in build.stages}):
        tagged = ":" in base.split("/")[-1] and not base.endswith(":latest")
        if not (base in stage_names or base == "scratch" or tagged or "@sha256:" in base):
            problems.append("image untagged or :latest: %s" % base)
    return problems


def cargo_locked(build):
    """Every cargo build/test/install/fetch runs with --locked."""
    calls = [c for c in all_cargo_calls(build) if c.subcommand in LOCKED_CARGO_COMMANDS]
    if not calls:
        return ["no cargo build/test/install/fetch in any RUN"]
    return ["cargo %s without --locked" % " ".join([c.subcommand] + c.args)
            for c in calls if "--locked" not in c.args]


def tests_run(build):
    """The function's tests run in the build (`cargo test`, not only `--no-run`)."""
    return [] if any(runs_tests(c) for c in all_cargo_calls(build)) else \
        ["no cargo test that runs the tests"]


def installs_function(build):
    """`cargo install --path function --root /out` builds the binary."""
    return [] if any(installs_into_out(c) for c in all_cargo_calls(build)) else \
        ["no cargo install --path function --root /out"]


def tests_run_on_real_sources(build):
    """The tests run after the real sources are copied in, in the RUN that installs."""
    for stage in build.stages:
        seen_sources = False
        for instruction in stage.instructions:
            if instruction.keyword == "COPY" and not copies_skeleton(instruction.value):
                seen_sources = True
            calls = cargo_calls(instruction.value) if instruction.keyword == "RUN" else []
            if seen_sources and any(map(runs_tests, calls)) \
                    and any(c.subcommand == "install" for c in calls):
                return []
    return ["no RUN after the real sources' COPY that runs cargo test and cargo install"]


def one_binary_checked(build):
    """The build fails unless exactly one binary was installed into /out/bin."""
    for stage in build.stages:
        for value in stage.values("RUN"):
            if re.search(r"/out/bin/\*", value) and re.search(r"-ne\s+1\b", value):
                return []
    return ["no RUN checks that /out/bin/* holds exactly one binary"]


def no_hadolint_ignore(build):
    """No `# hadolint ignore=` (or `global ignore`) comment."""
    return ["hadolint pragma: # %s" % i.value for i in build.instructions
            if i.keyword == "COMMENT" and HADOLINT_PRAGMA.search(i.value)]


def plan_stage_runs_plan_sh(build):
    """The stage named plan runs `bash plan.sh` (what test_dockerfile.py runs too)."""
    plan = [s for s in build.stages if s.name == "plan"]
    if any(v.strip() == "bash plan.sh" for s in plan for v in s.values("RUN")):
        return []
    return ["no stage 'plan' that runs `bash plan.sh`"]


def dockerignore_excludes_target(build):
    """.dockerignore drops every target/ (faas-cli copies handler folders as they are)."""
    return [] if "**/target" in build.dockerignore else \
        [".dockerignore lacks **/target: %r" % build.dockerignore]


# --------------------------------------------------------------------------- rules: ship stage

def copies_ca_bundle(stage):
    return any("ca-certificates.crt" in v for v in stage.values("COPY"))


def final_base_minimal(build):
    """The ship stage is distroless or scratch."""
    base = build.final.base
    return [] if MINIMAL_WITH_CA.match(base) or base == "scratch" else \
        ["final base not minimal (distroless or scratch): %s" % base]


def final_has_ca_certificates(build):
    """The final image has CA certificates (distroless has them; scratch must copy them)."""
    final = build.final
    if MINIMAL_WITH_CA.match(final.base) or (final.base == "scratch" and copies_ca_bundle(final)):
        return []
    return ["no CA certificates in the final image (%s)" % final.base]


def same_debian_release(build):
    """The toolchain and the distroless ship stage are on the same Debian release (glibc)."""
    distroless = MINIMAL_WITH_CA.match(build.final.base)
    toolchains = [PINNED_TOOLCHAIN.match(s.base) for s in build.stages[:-1]]
    toolchains = [m for m in toolchains if m]
    if not distroless or not toolchains:
        return []  # final_base_minimal and toolchain_pinned report these
    ship_release = DEBIAN_RELEASE.get(distroless.group(2))
    return ["build on %s, ship on %s" % (m.group(2), build.final.base)
            for m in toolchains if m.group(2) != ship_release]


def final_user_numeric_non_root(build):
    """The final USER is numeric uid[:gid], neither of them 0."""
    users = build.final.values("USER")
    match = re.match(r"^(\d+)(?::(\d+))?$", users[-1].strip()) if users else None
    if match and int(match.group(1)) != 0 and (match.group(2) is None or int(match.group(2)) != 0):
        return []
    return ["final USER not numeric and non-root: %r" % users]


def exposes_8080(build):
    """EXPOSE 8080 in the ship stage."""
    ports = [w for v in build.final.values("EXPOSE") for w in v.split()]
    return [] if "8080" in ports else ["final stage does not EXPOSE 8080: %r" % ports]


def env_ports(build):
    """ENV port=8080 metrics_port=8081 in the ship stage (the runtime's settings)."""
    env = {}
    for value in build.final.values("ENV"):
        env.update(env_pairs(value))
    wanted = {"port": "8080", "metrics_port": "8081"}
    return [] if all(env.get(k) == v for k, v in wanted.items()) else \
        ["final ENV lacks port=8080 metrics_port=8081: %r" % env]


def exec_form_cmd(build):
    """The last CMD/ENTRYPOINT is CMD ["/handler"], exec form (there is no shell)."""
    commands = [i for i in build.final.instructions if i.keyword in ("CMD", "ENTRYPOINT")]
    last = commands[-1] if commands else None
    try:
        argv = json.loads(last.value) if last and last.keyword == "CMD" else None
    except ValueError:
        argv = None
    return [] if argv == ["/handler"] else \
        ['final command is not CMD ["/handler"]: %r' % [(i.keyword, i.value) for i in commands]]


def final_copies_only_binary(build):
    """The ship stage copies the one binary from the build (plus, on scratch, CA certs)."""
    final = build.final
    copies = [i for i in final.instructions if i.keyword in ("COPY", "ADD")]
    if final.base == "scratch":
        copies = [i for i in copies if "ca-certificates.crt" not in i.value]
    if [i.tokens() for i in copies] == [BINARY_COPY]:
        return []
    return ["final stage copies more or other than the binary: %r" % [i.value for i in copies]]


def no_run_in_final(build):
    """Nothing in the ship stage needs a shell: no RUN."""
    return ["RUN in the final stage: %s" % v for v in build.final.values("RUN")]


RULES = [
    multi_stage, toolchain_pinned, images_tagged, cargo_locked, tests_run, installs_function,
    tests_run_on_real_sources, one_binary_checked, no_hadolint_ignore, plan_stage_runs_plan_sh,
    dockerignore_excludes_target, final_base_minimal, final_has_ca_certificates,
    same_debian_release, final_user_numeric_non_root, exposes_8080, env_ports, exec_form_cmd,
    final_copies_only_binary, no_run_in_final,
]
