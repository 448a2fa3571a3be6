"""The base schema: templates, tasks, examples and their history, jobs, runs, evaluations."""

STATEMENTS = [
    """CREATE TABLE template_versions (
        id INTEGER PRIMARY KEY,
        family TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('brainstorm', 'generate')),
        variant TEXT NOT NULL,
        body TEXT NOT NULL,
        version INTEGER NOT NULL,
        active INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT 'user',
        note TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (family, kind, variant, version)
    )""",
    "CREATE INDEX idx_template_active ON template_versions (family, kind, active)",
    """CREATE TABLE tasks (
        id INTEGER PRIMARY KEY,
        family TEXT NOT NULL,
        text TEXT NOT NULL,
        norm TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'rejected')),
        source TEXT NOT NULL DEFAULT 'brainstorm',
        template_version_id INTEGER REFERENCES template_versions (id),
        model TEXT,
        raw_response TEXT,
        job_id INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (family, norm)
    )""",
    """CREATE TABLE examples (
        id INTEGER PRIMARY KEY,
        family TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT 'English',
        instruction TEXT NOT NULL DEFAULT '',
        query TEXT NOT NULL,
        positive TEXT NOT NULL,
        negative TEXT,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
        task_id INTEGER REFERENCES tasks (id),
        template_version_id INTEGER REFERENCES template_versions (id),
        placeholders TEXT,
        model TEXT,
        raw_response TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost REAL,
        job_id INTEGER,
        source TEXT NOT NULL DEFAULT 'generated',
        negative_mined INTEGER NOT NULL DEFAULT 0,
        content_hash TEXT NOT NULL UNIQUE,
        norm_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX idx_examples_filter ON examples (status, family, language)",
    "CREATE INDEX idx_examples_task ON examples (task_id)",
    "CREATE INDEX idx_examples_norm ON examples (norm_hash)",
    "CREATE INDEX idx_examples_job ON examples (job_id)",
    """CREATE TABLE example_history (
        id INTEGER PRIMARY KEY,
        example_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        who TEXT NOT NULL DEFAULT 'user',
        action TEXT NOT NULL,
        before TEXT,
        after TEXT
    )""",
    "CREATE INDEX idx_history_example ON example_history (example_id)",
    """CREATE TABLE generation_failures (
        id INTEGER PRIMARY KEY,
        job_id INTEGER,
        task_id INTEGER,
        family TEXT,
        reason TEXT NOT NULL,
        raw TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX idx_failures_job ON generation_failures (job_id)",
    """CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
        pid INTEGER,
        pid_start TEXT,
        progress REAL NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        message TEXT,
        error TEXT,
        stats TEXT NOT NULL DEFAULT '{}',
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        resumed_from INTEGER,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        heartbeat_at TEXT
    )""",
    "CREATE INDEX idx_jobs_kind_state ON jobs (kind, state)",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        job_id INTEGER,
        name TEXT NOT NULL,
        base_model TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        out_dir TEXT,
        state TEXT NOT NULL DEFAULT 'running',
        data_counts TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        finished_at TEXT
    )""",
    """CREATE TABLE run_metrics (
        run_id INTEGER NOT NULL,
        step INTEGER NOT NULL,
        loss REAL,
        lr REAL,
        examples_per_s REAL,
        tokens_per_s REAL,
        at TEXT NOT NULL,
        PRIMARY KEY (run_id, step)
    )""",
    """CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY,
        job_id INTEGER,
        run_id INTEGER,
        model TEXT NOT NULL,
        dataset TEXT NOT NULL,
        split TEXT NOT NULL DEFAULT 'test',
        metrics TEXT NOT NULL DEFAULT '{}',
        per_query TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX idx_evaluations_run ON evaluations (run_id)",
]


def apply(db):
    for statement in STATEMENTS:
        db.execute(statement)
