# One image for every role; docker-compose.yml picks the role by its command.
FROM python:3.11-slim
WORKDIR /app
# OCR of scans and photos: Tesseract with its French and English data, from Debian.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
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
