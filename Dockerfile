# The project's Airflow image: the official image plus requirements.txt, resolved under constraints.txt.
# docker-compose.yaml builds it (`build: .`) and tags it ${AIRFLOW_IMAGE_NAME:-integra-airflow:3.3.2}.
#
# The base tag MUST match the `apache-airflow==` pin in requirements.txt (3.3.2) and its python suffix
# the project's Python (3.11, pyproject.toml); the compose image tag carries the same version.
# tests/test_compose.py fails when any of them drift. On top of that the pip install below pins
# apache-airflow to the base image's own ${AIRFLOW_VERSION}, so a requirements.txt asking for another
# Airflow fails the build instead of silently replacing the Airflow inside the image.
FROM apache/airflow:3.3.2-python3.11

# The official image runs as `airflow` (UID 50000, GID 0); packages go to ~/.local (PIP_USER is set).
USER airflow

# Mount point of the integra-data named volume (INTEGRA_DATA_PATH=file:///opt/airflow/data). A fresh
# named volume copies this directory's owner and mode, so any UID in group 0 can write batch files.
RUN mkdir -p -m 0775 /opt/airflow/data

COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/requirements/
# The `integra` package itself (provider entry point, plugin entry point, ledger migrations as package
# data): installed, not bind-mounted, so nothing needs PYTHONPATH. dags/ and include/ are bind-mounted.
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/integra-src/
COPY --chown=airflow:0 src /opt/airflow/integra-src/src

# CeleryExecutor needs apache-airflow-providers-celery and the redis client: requirements.txt pins the
# provider (tests/test_celery.py runs it) and constraints.txt the client; the check after the install
# fails the build, naming the missing one.
RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/airflow/requirements/requirements.txt \
        -c /opt/airflow/requirements/constraints.txt \
        /opt/airflow/integra-src \
    && python -c "import importlib.metadata as md; \
print([md.version(d) for d in ('apache-airflow', 'apache-airflow-providers-celery', 'redis', 'integra-airflow')])"
