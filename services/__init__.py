"""The one way into the edit log, shared by the CLI and the web app (neither imports the other).

- `edit_log.EditLog`: the log's operations that need no model (add, import with probes, retire,
  restore, change, threshold, probe prompts, counts); the CLI's log commands use it alone;
- `services.Services`: an EditLog that also keeps the in-memory index (SeracEditor) in step with
  the log and answers queries; the server and `app.py ask` use it;
- `imports`: reading and validating an edit file the same way for every door.

Nothing outside this package and `db/` touches the database. Imports point down: core, db.
"""
