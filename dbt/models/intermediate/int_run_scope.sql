-- The half-years the intermediate models hold: the run's (IRR_PERIOD_FROM to IRR_PERIOD_TO),
-- or every one. Built after the models the report marts read, and forgotten when a build
-- starts (macros/periods.sql): a build that stops half-way leaves no record, and the report
-- marts refuse to rebuild a period the record does not cover.
-- depends_on: {{ ref('int_requests_counted') }}
-- depends_on: {{ ref('int_request_outcome_times') }}
-- depends_on: {{ ref('int_identifiers_resolved') }}
-- depends_on: {{ ref('dq_period_quality') }}
select {{ run_period_from() }}::varchar as period_from, {{ run_period_to() }}::varchar as period_to
