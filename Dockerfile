FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY jobs jobs
COPY workers workers
COPY pipelines pipelines
COPY storage storage
RUN pip install --no-cache-dir .
ENV FARM_HOME=/farm
ENTRYPOINT []
CMD ["farm", "--help"]
