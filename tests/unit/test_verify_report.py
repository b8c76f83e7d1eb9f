"""What ``projections verify`` tells operators of documents holding another customer's
facts (``holdings.set_aside``): a line each and a gauge, without failing the check."""

from __future__ import annotations

from pathlib import Path

from projections.batch import EntityKey
from projections.holdings import SetAside, set_aside
from projections.verify import VerifyReport, write_metrics
from readmodel.documents import FOREIGN_FACTS, ORDERS, SHIPMENTS

ORDER = EntityKey(ORDERS, "SO-1")
SHIPMENT = EntityKey(SHIPMENTS, "SH-1")


def test_documents_holding_facts_of_other_customers_are_listed_and_counted(
    tmp_path: Path,
) -> None:
    docs = {
        SHIPMENT: {"_id": "SH-1", "customerId": "ACME", "known": True},
        ORDER: {
            "_id": "SO-1",
            "customerId": "ACME",
            "known": True,
            FOREIGN_FACTS: [{"customerId": "GLOBEX"}, {"customerId": "INITECH"}],
        },
    }
    found = set_aside(docs)
    assert found == [SetAside(ORDER, ("GLOBEX", "INITECH"))]

    report = VerifyReport(3, 2, [], [], {}, {}, found)
    assert "SET ASIDE orders/SO-1: facts of GLOBEX, INITECH" in report.lines()
    assert "1 holding facts of another customer" in report.lines()[0]
    path = tmp_path / "verify.prom"
    write_metrics(report, path, {"group": "g"})
    assert 'portal_projection_foreign_facts_set_aside{group="g"} 1.0' in path.read_text()
