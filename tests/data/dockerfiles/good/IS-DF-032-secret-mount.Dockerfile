# syntax=docker/dockerfile:1
FROM node:20-slim
RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN npm ci
USER node
