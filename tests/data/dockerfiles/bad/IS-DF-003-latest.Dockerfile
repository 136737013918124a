FROM node:latest
USER node
