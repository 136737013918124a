FROM debian:12-slim
RUN chmod -R o+w /srv
USER 10001
