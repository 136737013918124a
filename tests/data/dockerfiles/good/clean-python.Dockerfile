FROM python:3.12-slim@sha256:3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /app/
RUN pip install --no-cache-dir -r /app/requirements.txt
COPY src/ /app/src/
USER 10001
EXPOSE 8000
ENTRYPOINT ["tini", "--"]
CMD ["python", "-m", "app"]
