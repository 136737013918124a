FROM node:20-alpine AS build
RUN npm ci

FROM node:20
COPY --from=build /app /app
USER node
