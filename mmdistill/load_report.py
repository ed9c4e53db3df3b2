"""What a loader did not take as it was, in one shape for every adapter: :class:`LoadReport`.

A loader that reads files counts, per *kind* (a short snake_case name: ``unreadable``, ``ignored``, ``padded``,
``resampled`` ...), what it skipped, ignored or changed. A kind holds entries ``(path, reason)`` (the files, named
in the log and the first :data:`NAMES` of them in the manifest) and/or a bare count (kinds that are counts only,
such as clips resampled or users removed by a k-core filter). Facts that are not counts of anything left out (the
sample rate every clip was brought to, which cache was used) go beside them.

The adapter stores :meth:`LoadReport.as_dict` in the set's metadata (``syn.meta["load_report"]``, so in the
manifest) and :func:`mmdistill.card.loading_counts` puts the non-zero counts on the dataset card and in
``mmdistill show``. The stored shape (format 1)::

    {"format": 1,
     "root": "kinetics-tiny",                        # the data root's name (never the machine's folders)
     "counts": {"unreadable": 1, "ignored": 0},      # every kind the adapter declares, zeros too
     "files": {"unreadable": ["b/clip2.mp4"]},       # the first NAMES entries per kind, relative to the root
     "facts": {"cache": "wrote kinetics-tiny-3f2a.safetensors"}}

:meth:`LoadReport.from_dict` reads it back (the file names without their reasons, which stay in the log).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

from mmdistill.errors import ArtifactError, DataError
from mmdistill.markdown_safe import code
from mmdistill.words import id_list

#: the version of :meth:`LoadReport.as_dict`'s shape
FORMAT = 1
#: file names stored per kind in the manifest (the counts are always complete)
NAMES = 20
#: the line a report with nothing to say gives on the card
NOTHING = "nothing skipped, padded or left out"
#: the reason of a hidden entry (``.DS_Store``, ``.git/``, ``._clip.mp4``): named in the report, never a strict error
#: (:meth:`LoadReport.strict_error`; tools write these files)
HIDDEN = "hidden"


def entry_text(path: str, reason: str) -> str:
    """``path (reason)``; the reason alone when it already names the path, the path alone without a reason."""
    if not reason:
        return path
    return reason if path in reason else f"{path} ({reason})"


@dataclass
class LoadReport:
    """What a loader did not take as it was, per kind: entries ``(path, reason)`` and/or a count.

    ``root``: the data root; entries are stored relative to it (a path outside it by its file name).
    ``descriptions``: kind -> the words :meth:`lines` puts after the count ("unreadable or empty file(s)
    skipped"); every described kind appears in :meth:`counts`, a zero too, in this order. A subclass may declare
    them once in :attr:`KINDS`. ``facts``: JSON values stored beside the counts (``sample_rate``, ``cache`` ...).
    """

    #: kind -> description, for a subclass that always reports the same kinds (video)
    KINDS: ClassVar[Mapping[str, str]] = {}

    root: str = ""
    descriptions: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: counts on top of the entries: counts-only kinds, and entries a read-back report no longer lists
    tallies: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = str(self.root) if self.root else ""
        self.descriptions = {**self.KINDS, **self.descriptions}

    # ---------------------------------------------------------------- filling
    def add(self, kind: str, path: str | Path, reason: str = "") -> None:
        """One ``path`` of ``kind``, and why (``reason``, shown in the log)."""
        self.entries.setdefault(kind, []).append((str(path), str(reason)))

    def extend(self, kind: str, entries: Iterable[tuple[str | Path, str]]) -> None:
        """Several ``(path, reason)`` entries of ``kind``."""
        for path, reason in entries:
            self.add(kind, path, reason)

    def count(self, kind: str, n: int = 1) -> None:
        """``n`` more of ``kind`` without names (a counts-only kind); ``n=0`` declares the kind, so it is stored as 0."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"count of {kind!r} must be an integer >= 0, got {n!r}")
        self.tallies[kind] = self.tallies.get(kind, 0) + n

    # ---------------------------------------------------------------- reading
    def items(self, kind: str) -> list[tuple[str, str]]:
        """The entries ``(path, reason)`` of ``kind``, a copy (empty for a kind the report does not hold): reading
        never adds a kind; :meth:`add` and :meth:`extend` fill the report."""
        return list(self.entries.get(kind, ()))

    def kinds(self) -> list[str]:
        """The described kinds, then any other kind that was added or counted, in that order."""
        return list(dict.fromkeys([*self.descriptions, *self.entries, *self.tallies]))

    def counts(self) -> dict[str, int]:
        """kind -> how many (entries plus bare counts), for every kind of :meth:`kinds`."""
        return {k: len(self.entries.get(k, ())) + self.tallies.get(k, 0) for k in self.kinds()}

    def total(self, kinds: Iterable[str] | None = None) -> int:
        """How many items of ``kinds`` (default: all) the report holds."""
        counts = self.counts()
        return sum(counts.get(k, 0) for k in (counts if kinds is None else kinds))

    def describe(self, kind: str) -> str:
        return self.descriptions.get(kind) or kind.replace("_", " ")

    def lines(self, examples: int = 3) -> list[str]:
        """One log line per non-zero kind: ``"2 <description>: a (why); b (why)"``, the first ``examples``
        entries named, ``" ..."`` when there are more."""
        out = []
        for kind, n in self.counts().items():
            if not n:
                continue
            shown = [entry_text(p, r) for p, r in self.entries.get(kind, ())[:examples]]
            tail = f": {'; '.join(shown)}{' ...' if n > len(shown) else ''}" if shown else ""
            out.append(f"{n} {self.describe(kind)}{tail}")
        return out

    def summary(self) -> str:
        """The card's line: the non-zero counts (``"unreadable 2, ignored 1"``), or that there were none; then the
        classes a split left without a test sample (fact :data:`CLASSES_WITHOUT_TEST`: trained on, never scored), and
        the groups a drawn ``group_by`` split held out whole (facts ``group_by`` and ``test_groups``: a speaker-
        independent score, which a reader of the card could not tell before), or the official fold held out (fact
        ``test_fold``: ESC-50, UrbanSound8K) with the source recordings an edited split put on both sides (fact
        ``sources_in_both``)."""
        line = summary_line(self.counts())
        unscored = self.facts.get(CLASSES_WITHOUT_TEST)
        if isinstance(unscored, list) and unscored:
            line += f"; class(es) without a test sample, trained on but not scored: {id_list(map(code, unscored), NAMES)}"
        held, group_by = self.facts.get("test_groups"), self.facts.get("group_by")
        if isinstance(held, list) and held and group_by:
            line += (f"; test split: the group(s) {id_list(map(code, held), NAMES)} of group_by {code(group_by)} held "
                     "out whole (none trained on)")
        fold = self.facts.get("test_fold")
        if isinstance(fold, int) and not isinstance(fold, bool):
            line += f"; test split: the official fold {fold} held out (test_fold), the other folds trained on"
        both = self.facts.get("sources_in_both")
        if isinstance(both, list) and both:
            line += f"; source recording(s) with clips in both splits: {id_list(map(code, both), NAMES)}"
        return line

    def base_folder(self) -> Path | None:
        """The folder entries are relative to: the root, or the folder holding it when it is a file (a CSV, a tar)
        (:func:`base_folder`); None without a root."""
        return base_folder(self.root) if self.root else None

    def relative(self, path: str) -> str:
        """``path`` relative to the root: :func:`relative_name` under :meth:`base_folder`."""
        return relative_name(path, self.base_folder())

    # ---------------------------------------------------------------- JSON
    def as_dict(self, names: int = NAMES) -> dict[str, Any]:
        """The JSON shape stored in the manifest (see the module docstring): the root's name, every count, the first
        ``names`` entries of each kind relative to the root, and the facts."""
        root = os.path.basename(os.path.abspath(os.path.expanduser(self.root))) if self.root else ""  # as given: a link's own name
        return {"format": FORMAT, "root": root, "counts": self.counts(),
                "files": {k: [self.relative(p) for p, _ in v[:names]] for k, v in self.entries.items() if v},
                "facts": dict(self.facts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LoadReport":
        """A report read back from :meth:`as_dict`'s shape: its counts, facts, and the stored file names (without
        reasons). :class:`ArtifactError` for another shape (a set saved before format 1 stored a flat dict of
        counts: :func:`is_report` tells the two apart)."""
        if not is_report(data):
            raise ArtifactError(f"not a load report of format {FORMAT} (keys format, root, counts, files, facts): "
                                f"{sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__}")
        counts, files = data["counts"], data.get("files") or {}
        bad = [k for k, v in counts.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0]
        bad += [k for k, v in files.items() if not isinstance(v, list) or not all(isinstance(x, str) for x in v)]
        if bad:
            raise ArtifactError(f"load report: counts must be integers >= 0 and files lists of names; kind(s) {sorted(set(bad))} are not")
        # every stored kind described (by its name), so the read-back lists the kinds in the stored order
        report = cls(root=str(data.get("root") or ""), descriptions={str(k): "" for k in counts}, facts=dict(data.get("facts") or {}))
        for kind, n in counts.items():
            listed = list(files.get(kind, []))[:n]
            report.extend(kind, [(name, "") for name in listed])
            report.count(kind, n - len(listed))
        return report

    # ---------------------------------------------------------------- strict
    def strict_error(self, kinds: Iterable[str], *, flag: str = "--strict", noun: str = "item(s)", would: str = "would be left out",
                     without: str = "they are skipped, counted and logged") -> DataError | None:
        """The :class:`DataError` a strict load raises for the items of ``kinds`` (None: there are none). It names
        how many ``noun``, where, what ``would`` happen to them, the first three (``path (kind: reason)``), and what
        happens ``without`` the ``flag``. Hidden entries (reason :data:`HIDDEN`) are named by the report, never an error."""
        kinds = list(kinds)
        named = [(k, p, r) for k in kinds for p, r in self.entries.get(k, ()) if r != HIDDEN]
        n = len(named) + sum(self.tallies.get(k, 0) for k in kinds)
        if not n:
            return None
        shown = [f"{p} ({k.replace('_', ' ')}{': ' + r if r else ''})" for k, p, r in named[:3]]
        bare = [(k, c) for k in kinds if (c := self.tallies.get(k, 0))][: 3 - len(shown)]
        shown += [f"{c} {k.replace('_', ' ')}" for k, c in bare]
        more = n > len(named[:3]) + sum(c for _, c in bare)
        return DataError(f"{n} {noun} under {self.root or 'the data root'} {would}: {'; '.join(shown)}{' ...' if more else ''}; "
                         f"{flag} makes that an error (without it {without})")


def base_folder(root: str | Path) -> Path:
    """The folder a data root's entries are relative to: ``root`` (``~`` expanded), or the folder holding it when it is
    a file (a CSV, a tar)."""
    base = Path(root).expanduser()
    return base.parent if base.is_file() else base


def relative_name(path: str, base: Path | None) -> str:
    """``path`` relative to the folder ``base`` (links resolved when needed); a path outside it by its file name, a
    relative name as it is (the manifest names files without the machine's folders)."""
    p = Path(path)
    if base is not None:
        tries = [(p, base)] + ([(p, base.resolve()), (p.resolve(), base.resolve())] if p.is_absolute() else [])
        for a, b in tries:
            try:
                return a.relative_to(b).as_posix()
            except ValueError:
                continue
    return p.name if p.is_absolute() else path


#: the fact naming the classes a split left without a test sample (the image, audio and audio-visual loaders set it)
CLASSES_WITHOUT_TEST = "classes_without_test"


def summary_line(counts: Mapping[str, Any]) -> str:
    """``"unreadable 2, ignored 1"``: the positive integer counts of ``counts`` in order, or :data:`NOTHING`."""
    shown = [f"{k.replace('_', ' ')} {n:,}" for k, n in counts.items() if isinstance(n, int) and not isinstance(n, bool) and n > 0]
    return ", ".join(shown) if shown else NOTHING


def is_report(data: Any) -> bool:
    """Whether ``data`` is :meth:`LoadReport.as_dict`'s shape of :data:`FORMAT` (not a flat dict of counts of an
    older set, nor another format: ``format`` is the integer 1, never ``true``; ``counts`` a mapping; ``files`` and
    ``facts`` mappings where present, not null)."""
    fmt = data.get("format") if isinstance(data, Mapping) else None
    return (type(fmt) is int and fmt == FORMAT and isinstance(data.get("counts"), Mapping)
            and isinstance(data.get("files", {}), Mapping) and isinstance(data.get("facts", {}), Mapping))


__all__ = ["CLASSES_WITHOUT_TEST", "FORMAT", "HIDDEN", "LoadReport", "NAMES", "NOTHING", "base_folder", "entry_text", "is_report", "relative_name", "summary_line"]
