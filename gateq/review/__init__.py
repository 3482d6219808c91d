"""The engine's side of the review systems: the connections the
configuration names, what their events become in the journal (intake.py,
events.py, needs.py), the queries that find what a stream missed
(queries.py), and the reports that go back (reports.py). Each driver's
protocol stays behind gateq/drivers/base.py."""
