FROM nginx:1.27-alpine
ADD tls/server.pem /etc/nginx/tls/
USER nginx
