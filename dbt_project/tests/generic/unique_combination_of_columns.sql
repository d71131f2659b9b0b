{#
    Primary-key test for a composite key (dbt_utils-free): fails with one row per key value
    that occurs more than once.
        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [month, channel_group, channel]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
