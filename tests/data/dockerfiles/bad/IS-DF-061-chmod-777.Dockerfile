FROM debian:12-slim
RUN mkdir /data && chmod 777 /data
USER 10001
