FROM node:20-slim
COPY --chown=node:node .npmrc /home/node/
USER node
