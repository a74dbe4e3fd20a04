# The server image: web (gunicorn) by default; run the worker and beat from the same image with
#   celery -A network worker   /   celery -A network beat
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq5 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt && pip install --no-deps pyindi-client==2.3.0
COPY . .
RUN useradd --create-home network && mkdir -p var && chown -R network var
USER network
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && gunicorn network.wsgi:application --bind 0.0.0.0:8000 --workers 3 --timeout 120"]
