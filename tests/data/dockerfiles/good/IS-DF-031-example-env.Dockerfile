FROM node:20-slim
COPY .env.example ./
COPY src/ /app/src/
COPY certs/ca-cert.pem /usr/local/share/ca-certificates/
USER node
