"""The catalog keeps state changes conditional and results committed once, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import pytest

from storage.catalog import Catalog
from storage.errors import CatalogUnavailable, UnknownJob
from storage.models import ArtifactRecord, JobEvent, JobRecord, JobState, LineageEdge, ModelRecord
from storage.reader import ArtifactRow, CatalogReader, EdgeRow, EventRow, JobRow, ModelRow


def new_job(key: str | None = None, kind: str = "midi") -> JobRecord:
    return JobRecord(id=uuid.uuid4().hex, kind=kind, tag=kind, params_json='{"params": {}}',
                     seed=7, idempotency_key=key)


def artifact(job_id: str, attempt: int, name: str = "music.mid") -> ArtifactRecord:
    return ArtifactRecord(id=uuid.uuid4().hex, job_id=job_id, attempt=attempt, name=name,
                          sha256="ab" * 32, media_type="audio/midi", bytes=10)


@pytest.fixture
def catalog(catalog_url: str):
    cat = Catalog(catalog_url)
    yield cat
    cat.close()


def test_idempotency_key_gives_one_job_even_when_racing(catalog: Catalog) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: catalog.add_job(new_job("same-key")), range(8)))
    ids = {job.id for job, _ in results}
    assert len(ids) == 1
    assert sum(created for _, created in results) == 1
    assert len(catalog.list_jobs()) == 1


def test_only_one_of_two_claims_wins(catalog: Catalog) -> None:
    job, _ = catalog.add_job(new_job())
    first = catalog.claim(job.id, "w1", 1, JobState.QUEUED, 0)
    second = catalog.claim(job.id, "w2", 2, JobState.QUEUED, 0)
    assert (first, second) == (1, None)
    stored = catalog.get_job(job.id)
    assert (stored.state, stored.attempts, stored.worker) == (JobState.RUNNING, 1, "w1")


def test_a_held_job_is_not_claimed_until_released(catalog: Catalog) -> None:
    job = new_job()
    job.dispatched_at = job.created_at
    job, _ = catalog.add_job(job)
    assert catalog.hold_job(job.id, "pause", "paused by the user at 14:02")
    assert not catalog.hold_job(job.id, "pause", "again")  # held already: not ready
    assert catalog.claim(job.id, "w1", 1, JobState.QUEUED, 0) is None  # a stale look at it
    assert catalog.release_job(job.id, "pause") and not catalog.release_job(job.id, "pause")
    assert catalog.claim(job.id, "w1", 1, JobState.QUEUED, 0) == 1
    assert [e.message for e in catalog.events(job.id)][1:3] == [
        "held: paused by the user at 14:02", "released (pause)"]


def test_result_is_committed_once_and_only_by_the_live_attempt(catalog: Catalog) -> None:
    job, _ = catalog.add_job(new_job())
    assert catalog.claim(job.id, "w1", 1, JobState.QUEUED, 0) == 1
    # The first runner is presumed dead; a second delivery takes over as attempt 2.
    assert catalog.claim(job.id, "w2", 2, JobState.RUNNING, 1) == 2
    assert not catalog.commit_result(job.id, 1, [artifact(job.id, 1)], [])
    edge = LineageEdge(child_id="a", parent_id=job.id, relation="produced_by")
    assert catalog.commit_result(job.id, 2, [artifact(job.id, 2)], [edge])
    assert not catalog.commit_result(job.id, 2, [artifact(job.id, 2)], [])
    stored = catalog.get_job(job.id)
    assert stored.state == JobState.SUCCEEDED and stored.attempts == 2
    assert [a.attempt for a in catalog.artifacts(job.id)] == [2]
    assert [e.relation for e in catalog.lineage_of(job.id)] == ["produced_by"]


def test_cancelled_job_cannot_commit(catalog: Catalog) -> None:
    job, _ = catalog.add_job(new_job())
    attempt = catalog.claim(job.id, "w1", 1, JobState.QUEUED, 0)
    assert catalog.transition(job.id, [JobState.RUNNING], JobState.CANCELLED)
    assert attempt is not None and not catalog.commit_result(job.id, attempt, [artifact(job.id, 1)], [])
    assert catalog.artifacts(job.id) == []
    assert catalog.get_job(job.id).finished_at is not None


def test_transition_is_conditional_and_recorded_as_events(catalog: Catalog) -> None:
    job, _ = catalog.add_job(new_job())
    assert not catalog.transition(job.id, [JobState.RUNNING], JobState.FAILED)
    assert catalog.transition(job.id, [JobState.QUEUED], JobState.CANCELLED, message="by user")
    states = [e.state for e in catalog.events(job.id)]
    assert states == [JobState.QUEUED, JobState.CANCELLED]


def _job_with_id(job_id: str) -> JobRecord:
    job = new_job()
    job.id = job_id
    return job


@pytest.mark.parametrize("side", ["catalog", "reader"])
def test_jobs_are_found_by_unique_prefix_never_by_pattern(catalog: Catalog, side: str) -> None:
    ids = ["abcd" + "0" * 28, "abce" + "1" * 28, "abce" + "2" * 28]
    for job_id in ids:
        catalog.add_job(_job_with_id(job_id))
    finder = catalog if side == "catalog" else CatalogReader(catalog.url)
    assert finder.get_job("ABCD").id == ids[0] and finder.get_job(ids[1]).id == ids[1]
    with pytest.raises(UnknownJob, match="no job"):
        finder.get_job("ffff0000ffff")
    with pytest.raises(UnknownJob, match=f"ambiguous: {ids[1][:12]}, {ids[2][:12]}"):
        finder.get_job("abce")
    for pattern in ("ab", "%0000", "abc_", "ab%", "_bcd", "a" * 33, "ab cd"):
        with pytest.raises(UnknownJob, match="is not a job id"):
            finder.get_job(pattern)


def test_reader_rows_carry_the_columns_of_the_catalog_records() -> None:
    for row, record in ((JobRow, JobRecord), (ArtifactRow, ArtifactRecord),
                        (EdgeRow, LineageEdge), (ModelRow, ModelRecord), (EventRow, JobEvent)):
        columns = [c.name for c in record.__table__.c]  # type: ignore[attr-defined]
        assert [f.name for f in fields(row)] == columns, row.__name__


def test_reader_reads_what_the_catalog_wrote(catalog: Catalog) -> None:
    parent, _ = catalog.add_job(new_job())
    child, _ = catalog.add_job(new_job(), [parent.id])
    catalog.claim(parent.id, "w@h", 1, JobState.QUEUED, 0)
    catalog.commit_result(parent.id, 1, [artifact(parent.id, 1)], [])
    reader = CatalogReader(catalog.url)
    row = reader.get_job(parent.id)
    record = catalog.get_job(parent.id)
    assert {f.name: getattr(row, f.name) for f in fields(row)} == \
        {c: getattr(record, c) for c in (f.name for f in fields(row))}
    assert row.state is JobState.SUCCEEDED and row.created_at.utcoffset() is not None
    assert [d.id for d in reader.dependencies(child.id)] == [parent.id]
    assert [a.name for a in reader.artifacts(parent.id)] == ["music.mid"]
    assert [j.id for j in reader.list_jobs([JobState.QUEUED])] == [child.id]


def test_a_catalog_not_made_yet_reads_as_empty(tmp_path) -> None:
    reader = CatalogReader(f"sqlite:///{tmp_path / 'nothing-yet.db'}")
    assert reader.list_jobs() == []
    with pytest.raises(UnknownJob, match="no job"):
        reader.get_job("abcd")


def test_list_filters_by_state_and_kind_newest_first(catalog: Catalog) -> None:
    a, _ = catalog.add_job(new_job())
    b, _ = catalog.add_job(new_job(kind="image"))
    catalog.transition(a.id, [JobState.QUEUED], JobState.CANCELLED)
    assert [j.id for j in catalog.list_jobs()] == [b.id, a.id]
    assert [j.id for j in catalog.list_jobs(states=[JobState.CANCELLED])] == [a.id]
    assert [j.id for j in catalog.list_jobs(kinds=["image"])] == [b.id]
    assert catalog.count_by_state() == {"QUEUED": 1, "CANCELLED": 1}


def test_dependencies_and_dependents(catalog: Catalog) -> None:
    parent, _ = catalog.add_job(new_job())
    child, _ = catalog.add_job(new_job(), depends_on=[parent.id])
    assert [j.id for j in catalog.dependencies(child.id)] == [parent.id]
    assert [j.id for j in catalog.dependents(parent.id)] == [child.id]


def test_commit_records_the_jobs_inputs_in_its_lineage(catalog: Catalog) -> None:
    first, _ = catalog.add_job(new_job())
    second, _ = catalog.add_job(new_job())
    child, _ = catalog.add_job(new_job(), depends_on=[first.id, second.id])
    attempt = catalog.claim(child.id, "w1", 1, JobState.QUEUED, 0)
    assert attempt == 1 and catalog.commit_result(child.id, 1, [artifact(child.id, 1)], [])
    inputs = {(e.parent_id, e.relation) for e in catalog.parents(child.id)}
    assert inputs == {(first.id, "input"), (second.id, "input")}


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(CatalogUnavailable, match="cannot open the catalog"):
        Catalog("postgresql://nobody@127.0.0.1:1/none")


def test_commit_with_a_stale_fencing_token_is_refused(catalog: Catalog) -> None:
    job, _ = catalog.add_job(new_job())
    attempt = catalog.claim(job.id, "w1", 1, JobState.QUEUED, 0)
    assert attempt == 1
    catalog.raise_fence("gpu0", 7)
    catalog.raise_fence("gpu0", 8)  # a newer holder took the device
    catalog.raise_fence("gpu0", 6)  # raising to an older token changes nothing
    assert not catalog.commit_result(job.id, attempt, [artifact(job.id, attempt)], [], ("gpu0", 7))
    assert catalog.get_job(job.id).state == JobState.RUNNING
    assert catalog.commit_result(job.id, attempt, [artifact(job.id, attempt)], [], ("gpu0", 8))


def test_a_catalog_made_before_a_column_was_added_gains_it_for_writers_and_readers(
        catalog_url: str) -> None:
    from sqlalchemy import text

    old = Catalog(catalog_url)
    old.record_model("sd15", "/models/sd15", "a" * 64, None, 1.5)
    with old.engine.begin() as conn:  # as a farm from before `models.kind` left it
        conn.execute(text("ALTER TABLE models DROP COLUMN kind"))
    old.engine.dispose()
    reader = CatalogReader(catalog_url)
    found = reader.model("a" * 64)  # a reader first: it brings the catalog up to date
    assert found is not None and found.name == "sd15" and found.kind is None
    again = Catalog(catalog_url)
    again.record_model("sd15", "/models/sd15", "a" * 64, 2300, 1.2, kind="image")
    row = again.model("a" * 64)
    assert row is not None and (row.kind, row.vram_mb, row.load_s) == ("image", 2300, 1.2)
    again.record_model("sd15", "/models/sd15", "a" * 64, None, None)  # a hand registration
    row = again.model("a" * 64)
    assert row is not None and (row.kind, row.vram_mb, row.load_s) == ("image", 2300, 1.2)
    assert again.measured_vram_mb("sd15") == 2300


def test_progress_is_an_event_each_event_is_told_and_the_reader_reads_after_an_id(
        catalog: Catalog) -> None:
    heard: list[str] = []
    catalog.on_event = heard.append
    job, _ = catalog.add_job(new_job())
    catalog.set_progress(job.id, 0.5, "step 5 of 10")
    catalog.set_progress("0" * 32, 0.5, "no such job: nothing written")
    assert catalog.transition(job.id, [JobState.QUEUED], JobState.CANCELLED)
    assert catalog.get_job(job.id).progress == 0.5
    reader = CatalogReader(catalog.url)
    found = reader.events_after(0, job_id=job.id)
    assert [(e.state, e.progress, e.message) for e in found] == [
        (JobState.QUEUED, None, "submitted"), (JobState.QUEUED, 0.5, "step 5 of 10"),
        (JobState.CANCELLED, None, None)]
    assert reader.event_ids_after(found[0].id) == [e.id for e in found[1:]]
    assert reader.events_after(found[0].id, upto=found[1].id) == found[1:2]
    assert reader.last_event_id() == found[-1].id
    assert reader.events_after(0, project="default") == found
    assert reader.events_after(0, project="elsewhere") == []
    assert heard == [job.id, job.id, "0" * 32, job.id]
