"""The demo application databases of `make up`: schema and data, generated server-side.

Each database is built under a temporary name in one transaction and renamed into place
at the end, so an interrupted `make up` never leaves a half-filled demo database behind
(the leftover `<name>__loading` is dropped on the next run). An existing database is
never touched. The data is seeded, so every fresh stack gets the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg2.errors
from psycopg2 import sql

from dr_assets.core.names import check_database_name
from dr_assets.core.pg.conninfo import ConnInfo
from dr_assets.core.pg.databases import database_exists, user_tables
from dr_assets.core.pg.sessions import connection

LOADING_SUFFIX = "__loading"

_NAMES = """
CREATE TEMP TABLE first_names(i serial, name text) ON COMMIT DROP;
INSERT INTO first_names(name) SELECT unnest(ARRAY['Amara','Liam','Sofia','Noah','Mei','Omar',
  'Isabel','Kwame','Priya','Lucas','Aisha','Mateo','Hana','Elijah','Zara','Diego','Chloe',
  'Yusuf','Ingrid','Tariq','Leila','Mason','Nadia','Kenji','Grace','Ravi','Elena','Samuel',
  'Fatima','Jonas','Camila','Arjun']);
CREATE TEMP TABLE last_names(i serial, name text) ON COMMIT DROP;
INSERT INTO last_names(name) SELECT unnest(ARRAY['Okafor','Smith','Garcia','Nguyen','Kowalski',
  'Haddad','Rossi','Tanaka','Mensah','Patel','Johansson','Silva','Cohen','Murphy','Kim',
  'Abdullah','Dubois','Novak','Fernandez','Chen','Osei','Lindqvist','Ibrahim','Moreau']);
CREATE FUNCTION pg_temp.sentence(n int) RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg(w[1 + floor(random() * array_length(w, 1))::int], ' ')
  FROM generate_series(1, n), (SELECT regexp_split_to_array('community leadership research
    science engineering medicine education rural first-generation volunteer mentorship
    resilience innovation sustainability climate data health nursing teaching music arts
    athletics service family challenge growth curiosity project laboratory internship goal
    future impact scholarship tuition housing support achievement dedication persistence
    the a of and to in for with our my their', '\\s+') AS w) words $$;
"""

SCHOLARSHIP_API = _NAMES + """
CREATE TYPE application_status AS ENUM
  ('draft','submitted','under_review','shortlisted','awarded','rejected','withdrawn');
CREATE SEQUENCE application_number_seq START 100001;

CREATE TABLE sponsors (
  id            serial PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  kind          text NOT NULL CHECK (kind IN ('foundation','university','corporate','government')),
  contact_email text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE scholarships (
  id               bigserial PRIMARY KEY,
  sponsor_id       int NOT NULL REFERENCES sponsors,
  title            text NOT NULL,
  description      text NOT NULL,
  amount           numeric(10,2) NOT NULL CHECK (amount > 0),
  currency         char(3) NOT NULL DEFAULT 'USD',
  awards_available int NOT NULL CHECK (awards_available > 0),
  field_of_study   text NOT NULL,
  min_gpa          numeric(3,2),
  deadline         date NOT NULL,
  eligibility      jsonb NOT NULL DEFAULT '{}',
  is_active        boolean NOT NULL DEFAULT true,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scholarships_open ON scholarships (deadline) WHERE is_active;
CREATE INDEX scholarships_sponsor ON scholarships (sponsor_id);
CREATE TABLE applicants (
  id               bigserial PRIMARY KEY,
  email            text NOT NULL UNIQUE,
  first_name       text NOT NULL,
  last_name        text NOT NULL,
  date_of_birth    date NOT NULL,
  school           text NOT NULL,
  gpa              numeric(3,2) CHECK (gpa BETWEEN 0 AND 4),
  country          char(2) NOT NULL,
  household_income int,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applicants_name ON applicants (lower(last_name), lower(first_name));
CREATE TABLE applications (
  id                 bigserial PRIMARY KEY,
  application_number text NOT NULL UNIQUE
                     DEFAULT 'APP-' || nextval('application_number_seq'),
  scholarship_id     bigint NOT NULL REFERENCES scholarships ON DELETE CASCADE,
  applicant_id       bigint NOT NULL REFERENCES applicants ON DELETE CASCADE,
  status             application_status NOT NULL DEFAULT 'draft',
  requested_amount   numeric(10,2) NOT NULL CHECK (requested_amount > 0),
  awarded_amount     numeric(10,2) CHECK (awarded_amount >= 0),
  essay              text,
  documents          jsonb NOT NULL DEFAULT '[]',
  score              numeric(5,2),
  submitted_at       timestamptz,
  decided_at         timestamptz,
  UNIQUE (scholarship_id, applicant_id),
  CHECK (awarded_amount IS NULL OR status = 'awarded')
);
CREATE INDEX applications_status ON applications (status, submitted_at DESC);
CREATE INDEX applications_applicant ON applications (applicant_id);
CREATE INDEX applications_documents ON applications USING gin (documents jsonb_path_ops);
CREATE TABLE reviews (
  id             bigserial PRIMARY KEY,
  application_id bigint NOT NULL REFERENCES applications ON DELETE CASCADE,
  reviewer       text NOT NULL,
  score          smallint NOT NULL CHECK (score BETWEEN 1 AND 10),
  comments       text,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_application ON reviews (application_id);
CREATE TABLE disbursements (
  id             bigserial PRIMARY KEY,
  application_id bigint NOT NULL UNIQUE REFERENCES applications,
  amount         numeric(10,2) NOT NULL CHECK (amount > 0),
  method         text NOT NULL CHECK (method IN ('ach','check','wire','tuition_credit')),
  reference      text NOT NULL UNIQUE,
  paid_at        timestamptz NOT NULL
);

INSERT INTO sponsors (name, kind, contact_email, created_at)
SELECT s.name, (ARRAY['foundation','university','corporate','government'])[1 + g % 4],
       'grants@' || lower(regexp_replace(s.name, '[^A-Za-z]+', '', 'g')) || '.org',
       now() - g * interval '30 days'
FROM unnest(ARRAY['Horizon Foundation','Northfield University','Acme Robotics',
  'State Education Board','Lumen Trust','Riverbend College','Keystone Energy',
  'Civic Futures Fund','Maple Health','Open Science Alliance','Harbor Bank',
  'Summit Arts Council','Greenway Institute','Atlas Logistics','Bright Minds Trust',
  'Crescent Medical','Pioneer Aerospace','Unity Community Fund']) WITH ORDINALITY s(name, g);

INSERT INTO scholarships (sponsor_id, title, description, amount, awards_available,
                          field_of_study, min_gpa, deadline, eligibility, is_active, created_at)
SELECT 1 + (random() * 17)::int,
       f.field || ' ' || (ARRAY['Excellence','Access','Leaders','Pathways','Promise'])[1 + g % 5]
         || ' Scholarship ' || g,
       pg_temp.sentence(40),
       (500 + (random() * 95)::int * 100)::numeric,
       1 + (random() * 20)::int,
       f.field,
       round((2.5 + random() * 1.3)::numeric, 2),
       current_date + ((random() * 240)::int - 60),
       jsonb_build_object('levels', (ARRAY['["undergraduate"]','["graduate"]',
                            '["undergraduate","graduate"]'])[1 + g % 3]::jsonb,
                          'first_generation', g % 7 = 0,
                          'countries', (ARRAY['["US"]','["US","CA"]','["any"]'])[1 + g % 3]::jsonb,
                          'essay_words', 250 + (g % 4) * 250),
       g % 11 <> 0,
       now() - random() * interval '400 days'
FROM generate_series(1, 600) g,
     LATERAL (SELECT (ARRAY['Engineering','Nursing','Computer Science','Education','Biology',
       'Music','Economics','Environmental Science','Mathematics','History','Public Health',
       'Architecture'])[1 + g % 12] AS field) f;

INSERT INTO applicants (email, first_name, last_name, date_of_birth, school, gpa, country,
                        household_income, created_at)
SELECT lower(fn.name || '.' || ln.name || g) || '@student.example.edu', fn.name, ln.name,
       date '1996-01-01' + (random() * 3650)::int,
       (ARRAY['Lincoln High','Northfield University','Riverbend College','Eastside Academy',
              'Central State','Lakeview High','Westmoor Institute','Hillcrest College'])
         [1 + (random() * 7)::int],
       round((1.8 + random() * 2.2)::numeric, 2),
       (ARRAY['US','US','US','CA','MX','GB','NG','IN'])[1 + (random() * 7)::int],
       CASE WHEN g % 9 = 0 THEN NULL ELSE 12000 + (random() * 180000)::int END,
       now() - random() * interval '700 days'
FROM generate_series(1, 6000) g
JOIN first_names fn ON fn.i = 1 + g % 32
JOIN last_names ln ON ln.i = 1 + (g / 32) % 24;

INSERT INTO applications (scholarship_id, applicant_id, status, requested_amount,
                          awarded_amount, essay, documents, score, submitted_at, decided_at)
SELECT DISTINCT ON (sid, aid) sid, aid, st::application_status, requested,
       CASE WHEN st = 'awarded' THEN least(requested, s.amount) END,
       CASE WHEN st = 'draft' AND random() < 0.5 THEN NULL ELSE pg_temp.sentence(25) END,
       jsonb_build_array(
         jsonb_build_object('type', 'transcript', 'file', 'transcript-' || aid || '.pdf',
                            'bytes', 40000 + (random() * 400000)::int, 'verified', random() < 0.8),
         jsonb_build_object('type', 'recommendation', 'from', 'Prof. ' || ln.name,
                            'received', random() < 0.9)),
       CASE WHEN st IN ('shortlisted','awarded','rejected')
            THEN round((40 + random() * 60)::numeric, 2) END,
       CASE WHEN st <> 'draft' THEN submitted END,
       CASE WHEN st IN ('awarded','rejected')
            THEN least(now(), submitted + random() * interval '45 days') END
FROM (SELECT 1 + (random() * 599)::int AS sid, 1 + (random() * 5999)::int AS aid,
             (ARRAY['draft','submitted','submitted','under_review','under_review','shortlisted',
                    'awarded','rejected','rejected','rejected','withdrawn'])
               [1 + (random() * 10)::int] AS st,
             (500 + (random() * 95)::int * 100)::numeric AS requested,
             now() - random() * interval '300 days' AS submitted
      FROM generate_series(1, 10000)) x
JOIN scholarships s ON s.id = x.sid
JOIN last_names ln ON ln.i = 1 + aid % 24;

INSERT INTO reviews (application_id, reviewer, score, comments, created_at)
SELECT a.id, 'reviewer' || (1 + (random() * 40)::int) || '@committee.example.org',
       1 + (random() * 9)::int, pg_temp.sentence(12), a.submitted_at + interval '3 days'
FROM applications a, generate_series(1, 2) r
WHERE a.status IN ('under_review','shortlisted','awarded','rejected');

INSERT INTO disbursements (application_id, amount, method, reference, paid_at)
SELECT id, awarded_amount, (ARRAY['ach','check','wire','tuition_credit'])[1 + id % 4],
       'DSB-' || to_char(decided_at, 'YYYYMMDD') || '-' || id, decided_at + interval '14 days'
FROM applications WHERE status = 'awarded' AND id % 3 <> 0;

CREATE VIEW scholarship_pipeline AS
SELECT s.id, s.title, sp.name AS sponsor, s.amount, s.deadline,
       count(a.id) AS applications,
       count(a.id) FILTER (WHERE a.status = 'awarded') AS awarded,
       coalesce(sum(a.awarded_amount), 0) AS awarded_total,
       coalesce(sum(d.amount), 0) AS disbursed_total
FROM scholarships s
JOIN sponsors sp ON sp.id = s.sponsor_id
LEFT JOIN applications a ON a.scholarship_id = s.id
LEFT JOIN disbursements d ON d.application_id = a.id
GROUP BY s.id, sp.name;
"""

AUTO_COMMAND_CENTER = _NAMES + """
CREATE TYPE command_status AS ENUM
  ('queued','dispatched','running','succeeded','failed','cancelled','timed_out');
CREATE SEQUENCE command_batch_seq START 5000;

CREATE TABLE agents (
  id           serial PRIMARY KEY,
  hostname     text NOT NULL UNIQUE,
  region       text NOT NULL,
  os           text NOT NULL,
  version      text NOT NULL,
  labels       jsonb NOT NULL DEFAULT '{}',
  enabled      boolean NOT NULL DEFAULT true,
  last_seen_at timestamptz
);
CREATE INDEX agents_labels ON agents USING gin (labels);
CREATE TABLE command_templates (
  id                      serial PRIMARY KEY,
  name                    text NOT NULL UNIQUE,
  kind                    text NOT NULL
                          CHECK (kind IN ('shell','deploy','patch','backup','diagnostic')),
  default_timeout_seconds int NOT NULL CHECK (default_timeout_seconds > 0),
  script                  text NOT NULL,
  parameters_schema       jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE commands (
  id             bigserial PRIMARY KEY,
  command_uuid   uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  batch_id       bigint NOT NULL DEFAULT nextval('command_batch_seq'),
  template_id    int NOT NULL REFERENCES command_templates,
  agent_id       int NOT NULL REFERENCES agents,
  requested_by   text NOT NULL,
  priority       smallint NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 9),
  status         command_status NOT NULL DEFAULT 'queued',
  parameters     jsonb NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now(),
  started_at     timestamptz,
  finished_at    timestamptz,
  exit_code      int,
  output_excerpt text
);
CREATE INDEX commands_status ON commands (status, created_at DESC);
CREATE INDEX commands_agent ON commands (agent_id, created_at DESC);
CREATE INDEX commands_batch ON commands (batch_id);
CREATE TABLE command_events (
  id          bigserial PRIMARY KEY,
  command_id  bigint NOT NULL REFERENCES commands ON DELETE CASCADE,
  seq         int NOT NULL,
  event_type  text NOT NULL,
  payload     jsonb NOT NULL DEFAULT '{}',
  occurred_at timestamptz NOT NULL,
  UNIQUE (command_id, seq)
);
CREATE INDEX command_events_time ON command_events (occurred_at);
CREATE TABLE schedules (
  id             serial PRIMARY KEY,
  template_id    int NOT NULL REFERENCES command_templates,
  agent_selector jsonb NOT NULL,
  cron           text NOT NULL,
  enabled        boolean NOT NULL DEFAULT true,
  next_run_at    timestamptz
);

INSERT INTO agents (hostname, region, os, version, labels, enabled, last_seen_at)
SELECT (ARRAY['web','worker','db','edge','batch'])[1 + g % 5] || '-' || lpad(g::text, 3, '0')
         || '.' || r.region || '.internal',
       r.region,
       (ARRAY['ubuntu-22.04','ubuntu-24.04','debian-12','rhel-9'])[1 + g % 4],
       '2.' || (g % 6) || '.' || (g % 13),
       jsonb_build_object('role', (ARRAY['web','worker','db','edge','batch'])[1 + g % 5],
                          'env', (ARRAY['prod','prod','staging','dev'])[1 + g % 4],
                          'team', (ARRAY['platform','payments','data','growth'])[1 + g % 4]),
       g % 17 <> 0,
       now() - random() * interval '3600 seconds'
FROM generate_series(1, 150) g,
     LATERAL (SELECT (ARRAY['us-east-1','us-west-2','eu-west-1','ap-south-1'])
                [1 + g % 4] AS region) r;

INSERT INTO command_templates (name, kind, default_timeout_seconds, script, parameters_schema)
SELECT t.name, t.kind, t.timeout, t.script,
       jsonb_build_object('type', 'object', 'properties',
                          jsonb_build_object('dry_run', jsonb_build_object('type', 'boolean')))
FROM (VALUES
  ('restart-service','shell',120,'systemctl restart {{service}}'),
  ('deploy-release','deploy',900,'deployctl rollout {{release}} --wait'),
  ('rollback-release','deploy',600,'deployctl rollback {{release}}'),
  ('apply-security-patches','patch',1800,'apt-get -y upgrade --only-security'),
  ('rotate-logs','shell',60,'logrotate -f /etc/logrotate.conf'),
  ('snapshot-volume','backup',1200,'snapctl create {{volume}}'),
  ('collect-diagnostics','diagnostic',300,'diagctl bundle --upload'),
  ('flush-cache','shell',30,'cachectl flush {{namespace}}'),
  ('renew-certificates','shell',180,'certctl renew --all'),
  ('disk-cleanup','shell',240,'cleanup --older-than 14d'),
  ('db-vacuum','diagnostic',3600,'vacuumdb --analyze {{database}}'),
  ('sync-config','deploy',120,'configctl sync'))
  AS t(name, kind, timeout, script);

INSERT INTO commands (template_id, agent_id, requested_by, priority, status, parameters,
                      created_at, started_at, finished_at, exit_code, output_excerpt)
SELECT tid, aid, requester, pri, st::command_status, params, created,
       CASE WHEN st NOT IN ('queued','dispatched','cancelled')
            THEN created + random() * interval '20 seconds' END,
       CASE WHEN st IN ('succeeded','failed','timed_out')
            THEN created + (interval '30 seconds' + random() * interval '600 seconds') END,
       CASE st WHEN 'succeeded' THEN 0 WHEN 'failed' THEN 1 + (random() * 126)::int
               WHEN 'timed_out' THEN 124 END,
       CASE WHEN st IN ('succeeded','failed') THEN pg_temp.sentence(12) END
FROM (SELECT 1 + (random() * 11)::int AS tid, 1 + (random() * 149)::int AS aid,
             (ARRAY['ops-bot','alice@ops','bob@ops','deploy-pipeline','scheduler',
                    'oncall@sre'])[1 + (random() * 5)::int] AS requester,
             1 + (random() * 8)::int AS pri,
             (ARRAY['succeeded','succeeded','succeeded','succeeded','succeeded','succeeded',
                    'failed','timed_out','cancelled','running','queued','dispatched'])
               [1 + (random() * 11)::int] AS st,
             jsonb_build_object('dry_run', random() < 0.1,
                                'service', (ARRAY['nginx','api','worker','redis'])
                                  [1 + (random() * 3)::int],
                                'ticket', 'OPS-' || (1000 + (random() * 9000)::int)) AS params,
             now() - random() * interval '45 days' AS created
      FROM generate_series(1, 9000)) x;

INSERT INTO command_events (command_id, seq, event_type, payload, occurred_at)
SELECT c.id, e.seq, e.event_type,
       jsonb_build_object('agent', c.agent_id, 'message', e.event_type || ' ' || c.id),
       c.created_at + (e.seq * 2) * interval '1 second'
FROM commands c
CROSS JOIN LATERAL (
  SELECT s.seq, s.event_type FROM (VALUES (1,'queued'),(2,'dispatched'),(3,'started'),
                                          (4,'output'),(5,'finished')) AS s(seq, event_type)
  WHERE s.seq <= CASE c.status WHEN 'queued' THEN 1 WHEN 'dispatched' THEN 2
                                WHEN 'cancelled' THEN 2 WHEN 'running' THEN 4 ELSE 5 END
) e;

INSERT INTO schedules (template_id, agent_selector, cron, enabled, next_run_at)
SELECT 1 + g % 12, jsonb_build_object('env', (ARRAY['prod','staging'])[1 + g % 2],
                                      'role', (ARRAY['web','worker','db'])[1 + g % 3]),
       (ARRAY['0 * * * *','*/15 * * * *','0 3 * * *','0 4 * * 0'])[1 + g % 4],
       g % 5 <> 0, now() + g * interval '1 hour'
FROM generate_series(1, 40) g;

CREATE VIEW agent_health AS
SELECT a.id, a.hostname, a.region, a.enabled, a.last_seen_at,
       count(c.id) FILTER (WHERE c.created_at > now() - interval '24 hours') AS commands_24h,
       count(c.id) FILTER (WHERE c.status IN ('failed','timed_out')
                             AND c.created_at > now() - interval '7 days') AS failures_7d,
       max(c.finished_at) AS last_finished_at
FROM agents a LEFT JOIN commands c ON c.agent_id = a.id
GROUP BY a.id;
"""

STUDENT_DASHBOARD = _NAMES + """
CREATE SEQUENCE session_token_seq;

CREATE TABLE dashboard_users (
  id            bigserial PRIMARY KEY,
  email         text NOT NULL UNIQUE,
  display_name  text NOT NULL,
  role          text NOT NULL CHECK (role IN ('student','advisor','admin')),
  timezone      text NOT NULL DEFAULT 'UTC',
  preferences   jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
CREATE TABLE sessions (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id    bigint NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
  token_no   bigint NOT NULL UNIQUE DEFAULT nextval('session_token_seq'),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  ip         inet,
  user_agent text,
  revoked    boolean NOT NULL DEFAULT false,
  CHECK (expires_at > created_at)
);
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC);
CREATE INDEX sessions_live ON sessions (expires_at) WHERE NOT revoked;
CREATE TABLE widget_types (
  code           text PRIMARY KEY,
  title          text NOT NULL,
  default_config jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE widgets (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
  widget_type text NOT NULL REFERENCES widget_types,
  position    smallint NOT NULL,
  config      jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, position)
);
CREATE TABLE activity (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
  session_id  uuid REFERENCES sessions ON DELETE SET NULL,
  action      text NOT NULL,
  detail      jsonb NOT NULL DEFAULT '{}',
  occurred_at timestamptz NOT NULL
);
CREATE INDEX activity_user_time ON activity (user_id, occurred_at DESC);

INSERT INTO dashboard_users (email, display_name, role, timezone, preferences, created_at,
                             last_login_at)
SELECT lower(fn.name || '.' || ln.name || g) || '@campus.example.edu',
       fn.name || ' ' || ln.name,
       CASE WHEN g % 50 = 0 THEN 'admin' WHEN g % 10 = 0 THEN 'advisor' ELSE 'student' END,
       (ARRAY['UTC','America/New_York','America/Chicago','America/Los_Angeles',
              'Europe/London','Africa/Lagos','Asia/Kolkata'])[1 + g % 7],
       jsonb_build_object('theme', (ARRAY['light','dark','system'])[1 + g % 3],
                          'locale', (ARRAY['en-US','en-GB','es-MX','fr-FR'])[1 + g % 4],
                          'digest', (ARRAY['daily','weekly','never'])[1 + g % 3]),
       now() - random() * interval '900 days',
       CASE WHEN g % 8 = 0 THEN NULL ELSE now() - random() * interval '30 days' END
FROM generate_series(1, 4000) g
JOIN first_names fn ON fn.i = 1 + g % 32
JOIN last_names ln ON ln.i = 1 + (g / 32) % 24;

INSERT INTO widget_types (code, title, default_config) VALUES
  ('gpa_trend', 'GPA trend', '{"terms": 6}'),
  ('deadlines', 'Upcoming deadlines', '{"days": 30}'),
  ('scholarships', 'Scholarship matches', '{"limit": 5}'),
  ('courses', 'My courses', '{"show_grades": true}'),
  ('advisor_notes', 'Advisor notes', '{}'),
  ('financial_aid', 'Financial aid status', '{"currency": "USD"}'),
  ('attendance', 'Attendance', '{"weeks": 8}'),
  ('announcements', 'Campus announcements', '{"limit": 10}');

INSERT INTO widgets (user_id, widget_type, position, config, created_at, updated_at)
SELECT u.id, wt.code, wt.pos,
       wt.default_config || jsonb_build_object('collapsed', random() < 0.2,
                                                'color', (ARRAY['blue','green','amber','gray'])
                                                  [1 + (random() * 3)::int]),
       u.created_at, u.created_at + random() * interval '100 days'
FROM dashboard_users u
CROSS JOIN LATERAL (
  SELECT code, default_config, row_number() OVER (ORDER BY code) AS pos
  FROM widget_types WHERE (hashtext(code || u.id) % 3) <> 0) wt;

INSERT INTO sessions (user_id, created_at, expires_at, ip, user_agent, revoked)
SELECT uid, created, created + interval '12 hours',
       ('10.' || (random() * 255)::int || '.' || (random() * 255)::int || '.'
          || (1 + (random() * 253)::int))::inet,
       (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1',
              'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148',
              'Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0'])[1 + (random() * 3)::int],
       random() < 0.05
FROM (SELECT 1 + (random() * 3999)::int AS uid,
             now() - random() * interval '60 days' AS created
      FROM generate_series(1, 12000)) x;

INSERT INTO activity (user_id, session_id, action, detail, occurred_at)
SELECT s.user_id, s.id,
       (ARRAY['login','view_dashboard','open_widget','search','download_transcript',
              'message_advisor','update_preferences','logout'])[1 + (random() * 7)::int],
       jsonb_build_object('page', (ARRAY['/home','/courses','/aid','/scholarships','/profile'])
                                    [1 + (random() * 4)::int],
                          'ms', (20 + random() * 900)::int),
       s.created_at + (a * 37) * interval '1 second'
FROM sessions s, generate_series(1, 2) a;

CREATE VIEW active_sessions AS
SELECT s.id, s.user_id, u.email, u.role, s.created_at, s.expires_at, s.ip
FROM sessions s JOIN dashboard_users u ON u.id = s.user_id
WHERE NOT s.revoked AND s.expires_at > now();

CREATE MATERIALIZED VIEW daily_active_users AS
SELECT date_trunc('day', occurred_at)::date AS day, count(DISTINCT user_id) AS users,
       count(*) AS actions
FROM activity GROUP BY 1;
CREATE UNIQUE INDEX daily_active_users_day ON daily_active_users (day);
"""


@dataclass(frozen=True)
class DemoApp:
    name: str
    description: str
    script: str


DEMO_APPS: dict[str, DemoApp] = {
    "scholarship_api": DemoApp(
        "scholarship_api", "sponsors, scholarships, applicants, applications, reviews",
        SCHOLARSHIP_API),
    "auto_command_center": DemoApp(
        "auto_command_center", "agents, command templates, commands and their events",
        AUTO_COMMAND_CENTER),
    "student_dashboard": DemoApp(
        "student_dashboard", "dashboard users, sessions, widgets, activity",
        STUDENT_DASHBOARD),
}


@dataclass(frozen=True)
class LoadResult:
    database: str
    created: bool
    size_bytes: int
    tables: int | None = None  # counted only for a database we just created
    rows: int | None = None


def database_size(info: ConnInfo, name: str) -> int:
    with connection(info.with_db("postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(%s)", (name,))
        row = cur.fetchone()
        return int(row[0]) if row else 0


def _table_stats(info: ConnInfo) -> tuple[int, int]:
    with connection(info) as conn:
        tables = user_tables(conn)
        rows = 0
        with conn.cursor() as cur:
            for schema, table in tables:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)))
                row = cur.fetchone()
                rows += int(row[0]) if row else 0
    return len(tables), rows


def _drop(admin: ConnInfo, name: str) -> None:
    with connection(admin) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def _rename(admin: ConnInfo, old: str, new: str, attempts: int = 20) -> None:
    """RENAME needs the database idle: an autovacuum worker may still be attached."""
    with connection(admin) as conn, conn.cursor() as cur:
        for attempt in range(attempts):
            try:
                cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(old), sql.Identifier(new)))
                return
            except psycopg2.errors.ObjectInUse:
                if attempt == attempts - 1:
                    raise
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = %s AND backend_type = 'autovacuum worker'", (old,))
                time.sleep(0.25)


def ensure_demo_database(app: DemoApp, info: ConnInfo) -> LoadResult:
    """Create INFO's database with APP's demo data, unless a database of that name exists."""
    name = check_database_name(info.dbname)
    if database_exists(info, name):
        return LoadResult(name, created=False, size_bytes=database_size(info, name))
    loading = check_database_name(name + LOADING_SUFFIX)
    admin = info.with_db("postgres")
    _drop(admin, loading)  # the leftover of an interrupted run
    with connection(admin) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(loading)))
    try:
        with connection(info.with_db(loading), autocommit=False) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT setseed(0.42)")
                cur.execute(app.script)
                cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(loading),
                    sql.Literal(f"demo data of {app.name} ({app.description}), "
                                "created by `make up`")))
            conn.commit()
        with connection(info.with_db(loading)) as conn, conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        _rename(admin, loading, name)
    except BaseException:
        _drop(admin, loading)
        raise
    tables, rows = _table_stats(info)
    return LoadResult(name, created=True, size_bytes=database_size(info, name),
                      tables=tables, rows=rows)
