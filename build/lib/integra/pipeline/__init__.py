"""The campaign DAG's data steps: extract (warehouse, read only), transform and batching, accounting.

Each step takes the validated campaign definition and the task context and returns small, JSON-able
values for XCom: file locations and counts, never people. Heavy libraries (pandas, pyarrow,
phonenumbers) are imported inside the functions, so parsing the DAG file stays fast.
"""
