FROM registry.example.com/centos/centos:7
RUN yum install -y httpd
USER 10001
