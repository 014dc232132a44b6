# One image for every role; docker-compose.yml picks the role by its command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY bot bot
COPY mail mail
COPY scheduler scheduler
COPY courier courier
RUN pip install --no-cache-dir . && useradd --system --home /app courier && mkdir -p /data && chown courier /data
USER courier
ENV COURIER_DATA_DIR=/data
ENTRYPOINT ["courier"]
CMD ["run"]
