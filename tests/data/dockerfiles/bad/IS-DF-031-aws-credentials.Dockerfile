FROM python:3.12-slim
COPY .aws/credentials /root/.aws/credentials
USER 10001
