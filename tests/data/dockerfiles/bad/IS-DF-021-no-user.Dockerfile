FROM debian:12-slim
CMD ["sleep", "infinity"]
