FROM python:3.11-slim
# EXTRAS=llm builds llama.cpp for the brain's worker (needs a compiler); EXTRAS=image or audio
# installs torch==2.13.0 from PyPI (on Linux its CUDA build) and diffusers for the GPU workers.
ARG EXTRAS=""
RUN if [ -n "$EXTRAS" ]; then apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /app
COPY pyproject.toml README.md ./
COPY jobs jobs
COPY workers workers
COPY pipelines pipelines
COPY storage storage
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"
# The farm runs as a user of its own; its home and the catalog's volume start out as its own.
RUN useradd --create-home --uid 1000 farm && mkdir -p /farm /catalog \
    && chown farm /farm /catalog && chmod 700 /farm /catalog
USER farm
ENV FARM_HOME=/farm
ENTRYPOINT []
CMD ["farm", "--help"]
