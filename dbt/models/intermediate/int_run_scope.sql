-- The half-years the intermediate models hold: the run's (IRR_PERIOD_FROM to IRR_PERIOD_TO),
-- or every one. The report marts refuse to rebuild a period outside them (macros/periods.sql).
select {{ run_period_from() }}::varchar as period_from, {{ run_period_to() }}::varchar as period_to
