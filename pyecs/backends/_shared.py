"""What every backend shares: the label vocabulary, and a container's environment.

**Labels.** Every resource pyecs creates carries labels that tie it to a cluster, a task and
an owner process, so that leftovers can be found and removed (``pyecs gc``). The cluster's
runtime puts :data:`LABEL_CLUSTER`, :data:`LABEL_OWNER`, :data:`LABEL_TASK` and
:data:`LABEL_SERVICE` on each :class:`~pyecs.abc.TaskLaunch`; a backend adds its own
(the Docker backend: :data:`LABEL_CONTAINER`, :data:`LABEL_BACKEND`, ...). The names live
here, once.

**Environment.** :func:`resolve_environment` turns a container definition's
``environmentFiles``, ``secrets`` and ``environment`` into the variables the container gets,
with one set of rules for every backend (so that a task definition gets the same
environment on Docker, as local processes and in the simulation):

- an environment file is a local path (relative to the current directory, ``~`` expanded)
  or a ``file://`` URL; an S3 ARN cannot be fetched here;
- its lines are ``VARIABLE=VALUE``, split at the first ``=``; the value is taken literally
  (spaces, quotes, ``#`` and further ``=`` included: no shell quoting); lines whose first
  non-blank character is ``#`` are comments; blank lines, lines without ``=`` (a bare
  name) and lines with an empty value are ignored; a later line of a file overrides an
  earlier one;
- with several files, the **first** file that sets a variable wins;
- ``secrets`` come from the Python process's environment variable of the same name (there
  is no Secrets Manager or Parameter Store here), and win over the files;
- ``environment`` wins over everything.

These are the ECS rules. The ECS API reference (``EnvironmentFile``): "Each line in an
environment file should contain an environment variable in VARIABLE=VALUE format. Lines
beginning with # are treated as comments and are ignored. If there are environment
variables specified using the environment parameter in a container definition, they take
precedence over the variables contained within an environment file. If multiple
environment files are specified that contain the same variable, they're processed from the
top down", and "There is no support for shell escape handling"; the developer guide ("Pass
environment variables to an Amazon ECS container") adds that spaces and quotation marks
are part of the value. What "processed from the top down" means is in the ECS agent
(``agent/taskresource/envFiles/envfile.go`` and ``MergeEnvironmentVariablesFromEnvfiles``
in ``agent/api/container/container.go``): a variable is set only when no earlier file (nor
``environment``) set it, and only lines with ``=`` and a non-empty name and value apply.

What pyecs does on purpose beyond ECS: a ``=VALUE`` line (no name) is an error that names
its line rather than a silent skip; blanks before a line and around a name are ignored
(the agent would keep them in the name, and comment lines indented); every file is read
with a bound (:mod:`pyecs._files`), in a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlparse

from pyecs._files import ENV_FILE_LIMIT, decode_env_file, read_bounded_async
from pyecs.abc import ContainerStartError
from pyecs.models.task_definition import ContainerDefinition

__all__ = [
    "LABEL_BACKEND",
    "LABEL_CLUSTER",
    "LABEL_CONTAINER",
    "LABEL_DNS",
    "LABEL_OWNER",
    "LABEL_OWNER_STARTED",
    "LABEL_SCOPE",
    "LABEL_SERVICE",
    "LABEL_TASK",
    "parse_env_file",
    "read_env_files",
    "read_secrets",
    "resolve_environment",
]

# -- labels ----------------------------------------------------------------------------------

#: The cluster name.
LABEL_CLUSTER: Final = "pyecs.cluster"
#: The task ARN.
LABEL_TASK: Final = "pyecs.task-arn"
#: The service name, on the resources of a service's task.
LABEL_SERVICE: Final = "pyecs.service"
#: The container name from the task definition.
LABEL_CONTAINER: Final = "pyecs.container-name"
#: The owner process: ``hostname:pid``.
LABEL_OWNER: Final = "pyecs.owner"
#: When the owner process started (ISO 8601, whole seconds): tells a reused pid apart.
LABEL_OWNER_STARTED: Final = "pyecs.owner-started"
#: One value per backend object: what its event filter and last-resort sweep use.
LABEL_BACKEND: Final = "pyecs.backend"
#: ``task``, ``shared`` or ``cluster`` on volumes and networks.
LABEL_SCOPE: Final = "pyecs.scope"
#: On a container that belongs on the cluster network: the names it answers to there
#: (comma-separated, maybe none), so that whoever makes the network can connect it.
LABEL_DNS: Final = "pyecs.cluster-aliases"

# -- environment -----------------------------------------------------------------------------

_ENV_FILE_TOO_BIG: Final = "split it, or pass large values another way (a file the program reads)"


def _create_error(message: str) -> ContainerStartError:
    return ContainerStartError("CannotCreateContainerError", message)


def parse_env_file(data: bytes) -> dict[str, str]:
    """The variables of one environment file, by the ECS rules (see the module docstring).

    Raises:
        ValueError: not UTF-8, a NUL byte, or a ``=VALUE`` line with no variable name
            (the message names the line, without the file name).
    """
    env: dict[str, str] = {}
    for number, line in enumerate(decode_env_file(data).splitlines(), 1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            continue  # a bare name: ECS applies VARIABLE=VALUE lines only
        name = name.strip()
        if not name:
            raise ValueError(f"line {number} has no variable name before '='; write NAME=VALUE")
        if value:  # ECS: "key or value is empty": the line is not applied
            env[name] = value
    return env


def _env_file_path(value: str, where: str) -> Path:
    """The local file an ``environmentFiles[].value`` names.

    Raises:
        ContainerStartError: for an S3 ARN or a URL of another scheme.
    """
    if value.startswith("arn:"):
        raise _create_error(
            f"{where} is an S3 object, which pyecs cannot fetch: it reads local files; use a "
            "path (relative to the current directory) or a file:// URL"
        )
    if value.startswith("file://"):
        parsed = urlparse(value)
        if parsed.netloc in ("", "localhost"):
            return Path(unquote(parsed.path))
        return Path(unquote(value.removeprefix("file://")))  # file://relative/app.env
    scheme = urlparse(value).scheme
    if scheme and len(scheme) > 1:  # (one letter: a Windows drive, C:\...)
        raise _create_error(
            f"{where} is not a local file; pyecs reads local environment files: use a path "
            "(relative to the current directory) or a file:// URL"
        )
    return Path(value).expanduser()


async def read_env_files(definition: ContainerDefinition) -> list[dict[str, str]]:
    """The variables of each of the container's ``environmentFiles``, in order.

    Each file is read in a worker thread, at most :data:`~pyecs._files.ENV_FILE_LIMIT`
    bytes of a regular file.

    Raises:
        ContainerStartError: CannotCreateContainerError naming ``environmentFiles[i]``: a
            file that is not local, cannot be read, is not a regular file, is too big, is
            not UTF-8, or has a line with no variable name.
    """
    files: list[dict[str, str]] = []
    for index, entry in enumerate(definition.environment_files or ()):
        value = str(entry.value or "")
        where = f"container {definition.name!r}: environmentFiles[{index}] {value!r}"
        path = _env_file_path(value, where)
        try:
            files.append(
                await read_bounded_async(
                    path,
                    ENV_FILE_LIMIT,
                    what="an environment file",
                    too_big=_ENV_FILE_TOO_BIG,
                    parse=parse_env_file,
                )
            )
        except OSError as exc:
            raise _create_error(f"{where} cannot be read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise _create_error(f"{where} {exc}") from None
    return files


def read_secrets(
    definition: ContainerDefinition, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The container's ``secrets``, each from the Python process's environment variable of
    the same name; never logged nor printed.

    Args:
        definition: The container definition.
        environ: Where to look (default: ``os.environ``).

    Raises:
        ContainerStartError: CannotCreateContainerError naming the secret and the variable
            to set (never a value).
    """
    source = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for secret in definition.secrets or ():
        if secret.name is None:
            continue
        value = source.get(secret.name)
        if value is None:
            raise _create_error(
                f"container {definition.name!r}: secret {secret.name!r} (valueFrom "
                f"{secret.value_from!r}) cannot be fetched: pyecs takes secrets from the "
                f"environment of the Python process; set {secret.name} there"
            )
        values[secret.name] = value
    return values


async def resolve_environment(definition: ContainerDefinition) -> dict[str, str]:
    """The environment the task definition gives the container, on every backend.

    ``environmentFiles`` (the first file that sets a variable wins), then ``secrets``, then
    ``environment`` (each one overriding the ones before). A backend adds its own on top
    (the process backend's base ``PATH``/``HOME`` below it, ``PORT`` above it...).

    Raises:
        ContainerStartError: CannotCreateContainerError, as :func:`read_env_files` and
            :func:`read_secrets`.
    """
    env: dict[str, str] = {}
    for variables in reversed(await read_env_files(definition)):
        env.update(variables)  # reversed: the first file's value is the one left
    env.update(read_secrets(definition))
    env.update(definition.environment_dict())
    return env
