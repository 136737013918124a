FROM debian:12-slim
RUN sudo apt-get update
USER 10001
