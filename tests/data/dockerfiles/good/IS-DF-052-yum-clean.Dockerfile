FROM registry.example.com/centos/centos:7
RUN yum install -y httpd && yum clean all
USER 10001
