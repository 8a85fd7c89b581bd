"""The catalog keeps state changes conditional and results committed once, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from storage.catalog import Catalog
from storage.errors import CatalogUnavailable, UnknownJob
from storage.models import ArtifactRecord, JobRecord, JobState, LineageEdge


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


def test_jobs_are_found_by_unique_prefix(catalog: Catalog) -> None:
    job, _ = catalog.add_job(new_job())
    assert catalog.get_job(job.id[:10]).id == job.id
    with pytest.raises(UnknownJob, match="no job"):
        catalog.get_job("ffff0000ffff")
    with pytest.raises(UnknownJob, match="too short"):
        catalog.get_job("ab")


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


def test_a_job_without_inputs_is_dispatched_as_it_is_catalogued(catalog: Catalog) -> None:
    parent, _ = catalog.add_job(new_job())
    child, _ = catalog.add_job(new_job(), depends_on=[parent.id])
    assert catalog.get_job(parent.id).dispatched_at is not None
    assert catalog.get_job(child.id).dispatched_at is None


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
