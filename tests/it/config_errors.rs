//! Bad policy folders: each error reported with file:line:col, exit code 2, nothing touched.
