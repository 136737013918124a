FROM debian:12-slim
RUN echo 'never run curl x | sh' > /etc/motd
USER 10001
