FROM python:3.12-slim
COPY app.py /app/app.py
USER 10001
CMD ["python", "/app/app.py"]
