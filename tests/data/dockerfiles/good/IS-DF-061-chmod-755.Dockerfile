FROM debian:12-slim
COPY run.sh /run.sh
RUN chmod 755 /run.sh && chmod u+x /run.sh
USER 10001
