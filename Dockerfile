# The pipeline's image: every `hospital` command (generators, producer, consumer, batch jobs).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt pyproject.toml README.md ./
COPY hospital/__init__.py hospital/__init__.py
RUN sed '/^-e \.$/d' requirements.txt > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY . .
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 10001 hospital \
 && mkdir -p /data && chown hospital /data
USER hospital
ENV DATA_DIR=/data
ENTRYPOINT ["hospital"]
CMD ["--help"]
